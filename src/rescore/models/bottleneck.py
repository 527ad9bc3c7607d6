"""Bottleneck residual blocks (1x1 reduce, 3x3, 1x1 expand by 4) and the CIFAR bottleneck ResNet v1.

The CIFAR bottleneck net (He et al. 2016b, "Identity Mappings", Table 2/3 baseline
ResNet-164) stacks three stages of n bottleneck blocks with inner widths 16, 32, 64 and
outputs 64, 128, 256 (depth 9n+2) after a 3x3/16 stem conv.

Layout choices, all following the reference code the paper's numbers come from:

- Shortcuts are projections (1x1 conv + BN) where dimensions change (option B), or on
  every block (C). Option A (parameter-free zero-padding) is refused: the very first
  block already widens 16 -> 64 channels, so A would make three quarters of the first
  stage's shortcut channels constant zeros; the paper uses projections for these nets.
- In the CIFAR bottleneck nets the stride sits on the first 1x1 conv, as in He et al.'s
  resnet-1k-layers code; the ImageNet builder puts it on the 3x3 (torchvision's
  "ResNet v1.5"). Parameter counts are the same either way, MACs differ.
- `unit` (units.py) varies the unit as for the basic nets (He et al. 2016b, Table 2 has a
  ResNet-164 column); a pre-activation placement builds preact.py's layout.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras

from ..config import UnitConfig
from .cifar import blocks_per_stage, cifar_trunk
from .layers import classifier, conv_bn, relu
from .registry import register_model
from .units import add_v1_shortcut, after_addition, is_pre_activation, placement_of, \
    post_branch_end

CIFAR_BOTTLENECK_WIDTHS = (16, 32, 64)
EXPANSION = 4
PROJECTION_OPTIONS = ("B", "C")


def check_projection_option(option: Optional[str], model: str, why: str) -> str:
    """None selects the family default ('B'); 'A' raises and says why and what is valid."""
    if option is None:
        return "B"
    if option == "A":
        raise ValueError(
            f"shortcut option 'A' (parameter-free subsample + zero-pad) is not supported for "
            f"{model}: {why} Valid options: 'B' (projection only where dimensions change; "
            f"the default, also selected by shortcut=None) or 'C' (projection on every block).")
    if option not in PROJECTION_OPTIONS:
        raise ValueError(f"unknown shortcut option {option!r} for {model}; valid: "
                         f"{', '.join(PROJECTION_OPTIONS)} (or None for the default 'B')")
    return option


BOTTLENECK_A_WHY = ("it is a bottleneck net whose blocks change width by 4x (the first "
                    "block already goes 16 -> 64 channels), so zero-padded identity shortcuts "
                    "would carry mostly zeros; the paper uses projection shortcuts here.")


def bottleneck_block(x, in_channels: int, width: int, stride: int, option: str, name: str,
                     expansion: int = EXPANSION, stride_on_3x3: bool = False,
                     unit: Optional[UnitConfig] = None):
    """Post-activation (v1) bottleneck: 1x1-BN-ReLU, 3x3-BN-ReLU, 1x1(x4)-BN, + shortcut, ReLU;
    a post-activation `unit` moves the last BN or ReLU and varies the identity shortcut."""
    placement = placement_of(unit, "original")
    out_channels = width * expansion
    s1, s3 = (1, stride) if stride_on_3x3 else (stride, 1)
    y = relu(conv_bn(x, width, 1, s1, name=f"{name}_1"), name=f"{name}_1_relu")
    y = relu(conv_bn(y, width, 3, s3, name=f"{name}_2"), name=f"{name}_2_relu")
    y = post_branch_end(y, out_channels, 1, placement, name=f"{name}_3")
    y = add_v1_shortcut(y, x, in_channels, out_channels, stride, option, unit, name)
    return after_addition(y, placement, name)


def cifar_bottleneck_resnet(depth: int, num_classes: int = 10, shortcut: Optional[str] = "B",
                            widths: Sequence[int] = CIFAR_BOTTLENECK_WIDTHS,
                            input_shape=(32, 32, 3), name: Optional[str] = None,
                            unit: Optional[UnitConfig] = None) -> keras.Model:
    """CIFAR ResNet v1 with bottleneck blocks, depth 9n+2 (resnet164: n=18, 1.70M params);
    a pre-activation `unit` hands over to preact.py's layout."""
    option = check_projection_option(shortcut, f"resnet{depth}", BOTTLENECK_A_WHY)
    n = blocks_per_stage(depth, layers_per_block=3)
    if is_pre_activation(unit):
        from .preact import pre_activation_resnet  # preact.py imports this module

        return pre_activation_resnet(depth, "bottleneck", num_classes, option, widths,
                                     input_shape, name or f"resnet{depth}", unit)
    inputs = keras.Input(shape=input_shape, name="images")
    x = cifar_trunk(inputs, widths, n,
                    lambda x, c_in, width, stride, name:
                    bottleneck_block(x, c_in, width, stride, option, name=name, unit=unit),
                    expansion=EXPANSION)
    outputs = classifier(x, num_classes)
    return keras.Model(inputs, outputs, name=name or f"resnet{depth}")


# ----------------------------------------------------------------- registered models
# He et al. 2016b, Table 2/3 baseline ResNet-164 (1.7M parameters), option B.

@register_model(family="resnet_v1_bottleneck", depth=164, block="bottleneck",
                default_shortcut="B", params=1_704_154,
                features=CIFAR_BOTTLENECK_WIDTHS[-1] * EXPANSION, placement="original")
def resnet164(num_classes=10, shortcut="B", **kwargs):
    return cifar_bottleneck_resnet(164, num_classes=num_classes, shortcut=shortcut, **kwargs)
