"""CIFAR ResNet v1 and its plain counterpart (He et al. 2016, §4.2).

A 3x3 conv with 16 filters, then three stages of n basic blocks on 32x32, 16x16 and
8x8 maps with 16, 32 and 64 filters (depth 6n+2), global average pooling and a
10-way fully connected layer. Plain nets are the same stack without shortcuts.

`unit` (units.py, He et al. 2016b) moves BN or ReLU around the addition and varies the
identity shortcuts; a pre-activation placement builds the net with preact.py's layout.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import keras

from ..config import UnitConfig
from .layers import bn, classifier, conv, conv_bn, relu
from .registry import register_model
from .units import add_v1_shortcut, after_addition, is_pre_activation, placement_of, \
    post_branch_end

CIFAR_WIDTHS = (16, 32, 64)


def blocks_per_stage(depth: int, layers_per_block: int = 2) -> int:
    """6n+2 for basic blocks (2 convs each), 9n+2 for bottlenecks (3 convs each)."""
    convs = depth - 2
    per_block_depth = 3 * layers_per_block
    if depth < 2 + per_block_depth or convs % per_block_depth:
        raise ValueError(f"depth {depth} is not {per_block_depth}n+2 (n >= 1): valid depths are "
                         f"{', '.join(str(per_block_depth * n + 2) for n in range(1, 6))}, ...")
    return convs // per_block_depth


def basic_block(x, in_channels: int, out_channels: int, stride: int, option: Optional[str],
                name: str, unit: Optional[UnitConfig] = None):
    """conv-BN-ReLU-conv-BN, add the shortcut (unless plain), ReLU; a post-activation
    `unit` moves the last BN after the addition or the last ReLU before it, and varies
    the identity shortcut (units.py)."""
    placement = placement_of(unit, "original")
    y = relu(conv_bn(x, out_channels, 3, stride, name=f"{name}_1"), name=f"{name}_1_relu")
    y = post_branch_end(y, out_channels, 3, placement, name=f"{name}_2")
    if option is not None:
        y = add_v1_shortcut(y, x, in_channels, out_channels, stride, option, unit, name)
    return after_addition(y, placement, name)


def cifar_trunk(inputs, widths: Sequence[int], blocks: int, make_block: Callable,
                expansion: int = 1):
    """The CIFAR layout shared by basic and bottleneck nets: a 3x3 conv-BN-ReLU stem, then
    one stage per width, `blocks` blocks each, the first block of stages 2+ at stride 2.
    make_block(x, in_channels, width, stride, name) builds one block."""
    x = relu(bn(conv(inputs, widths[0], 3, 1, name="stem_conv"), name="stem_bn"),
             name="stem_relu")
    channels = widths[0]
    for stage, width in enumerate(widths, start=1):
        for block in range(1, blocks + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            x = make_block(x, channels, width, stride, name=f"stage{stage}_block{block}")
            channels = width * expansion
    return x


def cifar_resnet(depth: int, num_classes: int = 10, shortcut: Optional[str] = "A",
                 widths: Sequence[int] = CIFAR_WIDTHS, input_shape=(32, 32, 3),
                 name: Optional[str] = None,
                 unit: Optional[UnitConfig] = None) -> keras.Model:
    """The one builder behind resnet20…resnet1202 (shortcut='A'|'B'|'C') and plain nets
    (shortcut=None); a pre-activation `unit` hands over to preact.py's layout."""
    default = f"{'resnet' if shortcut else 'plain'}{depth}"
    if is_pre_activation(unit):
        from .preact import pre_activation_resnet  # preact.py imports this module

        return pre_activation_resnet(depth, "basic", num_classes, shortcut, widths,
                                     input_shape, name or default, unit)
    inputs = keras.Input(shape=input_shape, name="images")
    x = cifar_trunk(inputs, widths, blocks_per_stage(depth),
                    lambda x, c_in, c_out, stride, name:
                    basic_block(x, c_in, c_out, stride, shortcut, name=name, unit=unit))
    outputs = classifier(x, num_classes)
    return keras.Model(inputs, outputs, name=name or default)


PLAIN_ACCEPTS = (None, "A", "none")


def plain_net(depth: int, num_classes: int = 10, shortcut: Optional[str] = None,
              **kwargs) -> keras.Model:
    """A plain net has no shortcut to choose: None (or 'A', the CIFAR default some sweeps
    pass to every model) is accepted, anything else is a mistake worth reporting."""
    if shortcut not in PLAIN_ACCEPTS:
        raise ValueError(f"plain{depth} has no shortcuts, so shortcut={shortcut!r} means "
                         f"nothing; use a resnet{depth} for shortcut options A/B/C")
    return cifar_resnet(depth, num_classes=num_classes, shortcut=None, **kwargs)


# ----------------------------------------------------------------- registered models
# He et al. 2016, Table 6 (resnet20…1202) and Fig. 6 (plain20…110); resnet8 is a tiny net
# for smoke runs. Parameter counts at 10 classes, option A (plain: no shortcuts).

def _resnet_v1(depth: int, params: int):
    return register_model(family="resnet_v1", depth=depth, block="basic",
                          default_shortcut="A", params=params, features=CIFAR_WIDTHS[-1],
                          placement="original")


def _plain(depth: int, params: int):
    return register_model(family="plain", depth=depth, block="basic",
                          default_shortcut=None, params=params, features=CIFAR_WIDTHS[-1])


@_resnet_v1(8, params=75_290)
def resnet8(num_classes=10, shortcut="A", **kwargs):
    return cifar_resnet(8, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_resnet_v1(20, params=269_722)
def resnet20(num_classes=10, shortcut="A", **kwargs):
    return cifar_resnet(20, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_resnet_v1(32, params=464_154)
def resnet32(num_classes=10, shortcut="A", **kwargs):
    return cifar_resnet(32, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_resnet_v1(44, params=658_586)
def resnet44(num_classes=10, shortcut="A", **kwargs):
    return cifar_resnet(44, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_resnet_v1(56, params=853_018)
def resnet56(num_classes=10, shortcut="A", **kwargs):
    return cifar_resnet(56, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_resnet_v1(110, params=1_727_962)
def resnet110(num_classes=10, shortcut="A", **kwargs):
    return cifar_resnet(110, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_resnet_v1(1202, params=19_421_274)
def resnet1202(num_classes=10, shortcut="A", **kwargs):
    return cifar_resnet(1202, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_plain(20, params=269_722)
def plain20(num_classes=10, shortcut=None, **kwargs):
    return plain_net(20, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_plain(32, params=464_154)
def plain32(num_classes=10, shortcut=None, **kwargs):
    return plain_net(32, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_plain(44, params=658_586)
def plain44(num_classes=10, shortcut=None, **kwargs):
    return plain_net(44, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_plain(56, params=853_018)
def plain56(num_classes=10, shortcut=None, **kwargs):
    return plain_net(56, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_plain(110, params=1_727_962)
def plain110(num_classes=10, shortcut=None, **kwargs):
    return plain_net(110, num_classes=num_classes, shortcut=shortcut, **kwargs)
