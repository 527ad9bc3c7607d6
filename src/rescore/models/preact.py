"""CIFAR pre-activation ResNets (ResNet v2; He et al. 2016b, "Identity Mappings in Deep
Residual Networks").

Each residual unit computes x + F(x) where F starts with BN-ReLU and ends with a bare
conv: nothing is applied after the addition, so the identity path runs untouched from
the stem to the head. Following the paper and its reference code
(KaimingHe/resnet-1k-layers, resnet-pre-act.lua):

- the stem is a single 3x3/16 conv (no BN-ReLU: the first unit's BN-ReLU follows it);
- in the first unit of the network and in every unit that changes dimensions, the
  BN-ReLU is shared by both paths; where dimensions change the shortcut is a 1x1
  projection conv (no BN) of that activated input ("option B"), in the basic net's first
  unit (16 -> 16) that activated input itself; every other unit has an identity shortcut
  on the raw input. Option C puts the shared BN-ReLU + projection on every unit.
- a final BN-ReLU comes before global average pooling ("head_bn", "head_relu");
- bottleneck units have inner widths 16/32/64 and outputs 64/128/256 (depth 9n+2),
  with the stride on the first 1x1 conv, as in the reference code; basic units have
  widths 16/32/64 (depth 6n+2), stride on the first 3x3.

Option A (zero-padding shortcuts) is refused for these nets with an explanation.

`unit` (units.py, He et al. 2016b Fig. 2 and 4) gives ReLU-only pre-activation units (the
stem keeps its BN, the head only a ReLU) or varies the identity shortcuts; a
post-activation placement builds the v1 net (cifar.py, bottleneck.py) instead. v1 nets
with a pre-activation unit are built here too (`pre_activation_resnet`), with their option
A where they have it: the shared activation subsampled and zero-padded, as the
pre-activation nets of fb.resnet.torch do.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
from keras import layers

from ..config import Placement, UnitConfig
from .bottleneck import BOTTLENECK_A_WHY, EXPANSION, check_projection_option, \
    cifar_bottleneck_resnet
from .cifar import blocks_per_stage, cifar_resnet
from .layers import SHORTCUT_OPTIONS, SubsampleZeroPad, bn, classifier, conv, relu
from .registry import register_model
from .units import POST_ACTIVATION, after_weight, merge, placement_of, pre_activation, \
    pre_projection

PREACT_WIDTHS = (16, 32, 64)
PREACT_BASIC_A_WHY = ("pre-activation nets (He et al. 2016b) use 1x1 projection shortcuts, taken "
                      "after the unit's shared BN-ReLU, where dimensions change; the zero-pad "
                      "option A is the v1 CIFAR nets' (e.g. resnet110 unit=full_preact builds "
                      "a pre-activation net with it).")
OWN_PLACEMENT = "full_preact"  # this family's unit (units.py)


def _preact_unit(x, in_channels: int, out_channels: int, stride: int, option: str,
                 first: bool, name: str, placement: str):
    """Shared part of every pre-activation unit: returns (branch input, shortcut, whether
    that shortcut is an identity, which a unit variant may replace: units.py)."""
    changes = stride != 1 or in_channels != out_channels
    act = pre_activation(x, 1, placement, name)
    if option == "C" or (changes and option == "B"):
        return act, pre_projection(act, out_channels, stride, placement, name), False
    if changes:  # option A, for v1 nets built with a pre-activation unit: as fb.resnet.torch's
        # preresnet, the shared activation is subsampled and zero-padded
        pad = SubsampleZeroPad(stride, out_channels - in_channels, name=f"{name}_short_subpad")
        return act, pad(act), False
    # paper, appendix: the first activation comes before the split
    return act, (act if first else x), True


def _add_shortcut(y, short, identity: bool, out_channels: int, placement: str,
                  unit: Optional[UnitConfig], name: str):
    if not identity:
        return layers.Add(name=f"{name}_add")([y, short])
    return merge(y, short, unit, name,
                 conv1x1=lambda s: pre_projection(s, out_channels, 1, placement, name))


def preact_basic_block(x, in_channels: int, out_channels: int, stride: int, option: str,
                       name: str, first: bool = False, unit: Optional[UnitConfig] = None):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 (ReLU-only: ReLU-conv3x3-BN, twice), added to the
    shortcut; no activation after."""
    placement = placement_of(unit, OWN_PLACEMENT)
    y, short, identity = _preact_unit(x, in_channels, out_channels, stride, option, first,
                                      name, placement)
    y = after_weight(conv(y, out_channels, 3, stride, name=f"{name}_conv1"), 1, placement, name)
    y = pre_activation(y, 2, placement, name)
    y = after_weight(conv(y, out_channels, 3, 1, name=f"{name}_conv2"), 2, placement, name)
    return _add_shortcut(y, short, identity, out_channels, placement, unit, name)


def preact_bottleneck_block(x, in_channels: int, width: int, stride: int, option: str,
                            name: str, first: bool = False, expansion: int = EXPANSION,
                            unit: Optional[UnitConfig] = None):
    """BN-ReLU-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1(x4) (ReLU-only: ReLU-conv-BN, three
    times), added to the shortcut."""
    placement = placement_of(unit, OWN_PLACEMENT)
    out_channels = width * expansion
    y, short, identity = _preact_unit(x, in_channels, out_channels, stride, option, first,
                                      name, placement)
    y = after_weight(conv(y, width, 1, stride, name=f"{name}_conv1"), 1, placement, name)
    y = pre_activation(y, 2, placement, name)
    y = after_weight(conv(y, width, 3, 1, name=f"{name}_conv2"), 2, placement, name)
    y = pre_activation(y, 3, placement, name)
    y = after_weight(conv(y, out_channels, 1, 1, name=f"{name}_conv3"), 3, placement, name)
    return _add_shortcut(y, short, identity, out_channels, placement, unit, name)


def preact_resnet(depth: int, block: str = "bottleneck", num_classes: int = 10,
                  shortcut: Optional[str] = "B", widths: Sequence[int] = PREACT_WIDTHS,
                  input_shape=(32, 32, 3), name: Optional[str] = None,
                  unit: Optional[UnitConfig] = None) -> keras.Model:
    """Pre-activation CIFAR ResNet: block='basic' (6n+2) or 'bottleneck' (9n+2); a
    post-activation `unit` builds the v1 net of the same depth and shortcut option."""
    if block not in ("basic", "bottleneck"):
        raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
    bottleneck = block == "bottleneck"
    default = name or f"preact_resnet{depth}"
    option = check_projection_option(
        shortcut, default, BOTTLENECK_A_WHY if bottleneck else PREACT_BASIC_A_WHY)
    if unit is not None and unit.placement in POST_ACTIVATION:
        v1 = cifar_bottleneck_resnet if bottleneck else cifar_resnet
        return v1(depth, num_classes, option, widths, input_shape, default, unit)
    return pre_activation_resnet(depth, block, num_classes, option, widths, input_shape,
                                 default, unit)


def pre_activation_resnet(depth: int, block: str, num_classes: int, option: str,
                          widths: Sequence[int], input_shape, name: str,
                          unit: Optional[UnitConfig] = None) -> keras.Model:
    """The pre-activation layout (full, or ReLU-only with `unit`): a stem conv (+BN where
    BN follows the weight layers), the units, the last unit's extra activation, the head.
    Option A is taken here (v1 nets with a pre-activation unit); preact_resnet refuses it."""
    if option not in SHORTCUT_OPTIONS:
        raise ValueError(f"pre-activation units need a shortcut option "
                         f"({', '.join(SHORTCUT_OPTIONS)}), got {option!r}")
    placement = placement_of(unit, OWN_PLACEMENT)
    bottleneck = block == "bottleneck"
    n = blocks_per_stage(depth, layers_per_block=3 if bottleneck else 2)
    expansion = EXPANSION if bottleneck else 1
    inputs = keras.Input(shape=input_shape, name="images")
    x = conv(inputs, widths[0], 3, 1, name="stem_conv")
    if placement == Placement.relu_only_preact:  # BN follows every weight layer: the stem's stays
        x = bn(x, name="stem_bn")
    channels = widths[0]
    for stage, width in enumerate(widths, start=1):
        for b in range(1, n + 1):
            stride = 2 if stage > 1 and b == 1 else 1
            first = stage == 1 and b == 1
            unit_fn = preact_bottleneck_block if bottleneck else preact_basic_block
            x = unit_fn(x, channels, width, stride, option, name=f"stage{stage}_block{b}",
                        first=first, unit=unit)
            channels = width * expansion
    if placement == Placement.full_preact:  # the last unit's extra activation (appendix):
        x = bn(x, name="head_bn")            # BN-ReLU, or a ReLU after ReLU-only units
    x = relu(x, name="head_relu")
    outputs = classifier(x, num_classes)
    return keras.Model(inputs, outputs, name=name)


# ----------------------------------------------------------------- registered models
# He et al. 2016b: preact_resnet110 (basic, 6n+2), preact_resnet164/1001 (bottleneck,
# 9n+2, Table 3: 1.7M / 10.2M conv+fc weights). resnet{56,110,164,1001}_v2 are the names
# of the Keras `cifar10_resnet` example, whose "v2" is always a bottleneck pre-activation
# net of depth 9n+2 (n=6, 12, 18, 111), built here with the paper's layout (as
# preact_resnet164/1001), not the example's own details (conv biases, an extra stem
# BN-ReLU, projection on the raw input). Beware: resnet110_v2 (bottleneck, n=12) is not
# preact_resnet110 (basic, n=18); resnet164_v2 is the same network as preact_resnet164.

def _preact(depth: int, block: str, params: int):
    features = PREACT_WIDTHS[-1] * (EXPANSION if block == "bottleneck" else 1)
    return register_model(family="resnet_v2", depth=depth, block=block,
                          default_shortcut="B", params=params, features=features,
                          placement=OWN_PLACEMENT)


@_preact(110, "basic", params=1_730_522)
def preact_resnet110(num_classes=10, shortcut="B", **kwargs):
    return preact_resnet(110, "basic", num_classes=num_classes, shortcut=shortcut, **kwargs)


@_preact(164, "bottleneck", params=1_703_258)
def preact_resnet164(num_classes=10, shortcut="B", **kwargs):
    return preact_resnet(164, "bottleneck", num_classes=num_classes, shortcut=shortcut,
                         **kwargs)


@_preact(1001, "bottleneck", params=10_327_706)
def preact_resnet1001(num_classes=10, shortcut="B", **kwargs):
    return preact_resnet(1001, "bottleneck", num_classes=num_classes, shortcut=shortcut,
                         **kwargs)


@_preact(56, "bottleneck", params=590_426)
def resnet56_v2(num_classes=10, shortcut="B", name="resnet56_v2", **kwargs):
    return preact_resnet(56, "bottleneck", num_classes=num_classes, shortcut=shortcut,
                         name=name, **kwargs)


@_preact(110, "bottleneck", params=1_146_842)
def resnet110_v2(num_classes=10, shortcut="B", name="resnet110_v2", **kwargs):
    return preact_resnet(110, "bottleneck", num_classes=num_classes, shortcut=shortcut,
                         name=name, **kwargs)


@_preact(164, "bottleneck", params=1_703_258)
def resnet164_v2(num_classes=10, shortcut="B", name="resnet164_v2", **kwargs):
    return preact_resnet(164, "bottleneck", num_classes=num_classes, shortcut=shortcut,
                         name=name, **kwargs)


@_preact(1001, "bottleneck", params=10_327_706)
def resnet1001_v2(num_classes=10, shortcut="B", name="resnet1001_v2", **kwargs):
    return preact_resnet(1001, "bottleneck", num_classes=num_classes, shortcut=shortcut,
                         name=name, **kwargs)
