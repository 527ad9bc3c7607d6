"""CIFAR pre-activation ResNets (ResNet v2; He et al. 2016b, "Identity Mappings in Deep
Residual Networks").

Each residual unit computes x + F(x) where F starts with BN-ReLU and ends with a bare
conv: nothing is applied after the addition, so the identity path runs untouched from
the stem to the head. Following the paper and its reference code
(KaimingHe/resnet-1k-layers, resnet-pre-act.lua):

- the stem is a single 3x3/16 conv (no BN-ReLU: the first unit's BN-ReLU follows it);
- in the first unit of the network and in every unit that changes dimensions, the
  BN-ReLU is shared by both paths and the shortcut is a 1x1 projection conv (no BN)
  of that activated input ("option B"); every other unit has an identity shortcut
  on the raw input. Option C puts the shared BN-ReLU + projection on every unit.
- a final BN-ReLU comes before global average pooling ("head_bn", "head_relu");
- bottleneck units have inner widths 16/32/64 and outputs 64/128/256 (depth 9n+2),
  with the stride on the first 1x1 conv, as in the reference code; basic units have
  widths 16/32/64 (depth 6n+2), stride on the first 3x3.

Option A (zero-padding shortcuts) is refused with an explanation.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
from keras import layers

from .bottleneck import BOTTLENECK_A_WHY, EXPANSION, check_projection_option
from .cifar import blocks_per_stage
from .layers import bn, classifier, conv, relu
from .registry import register_model

PREACT_WIDTHS = (16, 32, 64)
PREACT_BASIC_A_WHY = ("pre-activation nets (He et al. 2016b) use 1x1 projection shortcuts, taken "
                      "after the unit's shared BN-ReLU, where dimensions change; the zero-pad "
                      "option A of the v1 CIFAR nets is not implemented for this family.")


def _preact_unit(x, in_channels: int, out_channels: int, stride: int, option: str,
                 first: bool, name: str):
    """Shared part of every pre-activation unit: returns (branch input, shortcut)."""
    changes = stride != 1 or in_channels != out_channels
    act = relu(bn(x, name=f"{name}_bn1"), name=f"{name}_relu1")
    if option == "C" or changes:
        short = conv(act, out_channels, 1, stride, name=f"{name}_short_proj_conv")
    elif first:
        short = act  # paper, appendix: the first activation comes before the split
    else:
        short = x
    return act, short


def preact_basic_block(x, in_channels: int, out_channels: int, stride: int, option: str,
                       name: str, first: bool = False):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3, added to the shortcut; no activation after."""
    y, short = _preact_unit(x, in_channels, out_channels, stride, option, first, name)
    y = conv(y, out_channels, 3, stride, name=f"{name}_conv1")
    y = relu(bn(y, name=f"{name}_bn2"), name=f"{name}_relu2")
    y = conv(y, out_channels, 3, 1, name=f"{name}_conv2")
    return layers.Add(name=f"{name}_add")([y, short])


def preact_bottleneck_block(x, in_channels: int, width: int, stride: int, option: str,
                            name: str, first: bool = False, expansion: int = EXPANSION):
    """BN-ReLU-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1(x4), added to the shortcut."""
    out_channels = width * expansion
    y, short = _preact_unit(x, in_channels, out_channels, stride, option, first, name)
    y = conv(y, width, 1, stride, name=f"{name}_conv1")
    y = relu(bn(y, name=f"{name}_bn2"), name=f"{name}_relu2")
    y = conv(y, width, 3, 1, name=f"{name}_conv2")
    y = relu(bn(y, name=f"{name}_bn3"), name=f"{name}_relu3")
    y = conv(y, out_channels, 1, 1, name=f"{name}_conv3")
    return layers.Add(name=f"{name}_add")([y, short])


def preact_resnet(depth: int, block: str = "bottleneck", num_classes: int = 10,
                  shortcut: Optional[str] = "B", widths: Sequence[int] = PREACT_WIDTHS,
                  input_shape=(32, 32, 3), name: Optional[str] = None) -> keras.Model:
    """Pre-activation CIFAR ResNet: block='basic' (6n+2) or 'bottleneck' (9n+2)."""
    if block not in ("basic", "bottleneck"):
        raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
    bottleneck = block == "bottleneck"
    default = name or f"preact_resnet{depth}"
    option = check_projection_option(
        shortcut, default, BOTTLENECK_A_WHY if bottleneck else PREACT_BASIC_A_WHY)
    n = blocks_per_stage(depth, layers_per_block=3 if bottleneck else 2)
    expansion = EXPANSION if bottleneck else 1
    inputs = keras.Input(shape=input_shape, name="images")
    x = conv(inputs, widths[0], 3, 1, name="stem_conv")
    channels = widths[0]
    for stage, width in enumerate(widths, start=1):
        for b in range(1, n + 1):
            stride = 2 if stage > 1 and b == 1 else 1
            first = stage == 1 and b == 1
            unit = preact_bottleneck_block if bottleneck else preact_basic_block
            x = unit(x, channels, width, stride, option, name=f"stage{stage}_block{b}",
                     first=first)
            channels = width * expansion
    x = relu(bn(x, name="head_bn"), name="head_relu")
    outputs = classifier(x, num_classes)
    return keras.Model(inputs, outputs, name=default)


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
                          default_shortcut="B", params=params, features=features)


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
