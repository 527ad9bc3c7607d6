"""ImageNet-style ResNets 18/34/50/101/152 (He et al. 2016, Table 1) in torchvision's layout.

- stem="imagenet" (default): 7x7/2 conv (64, symmetric pad 3), BN, ReLU, 3x3/2 max-pool
  (symmetric pad 1; zero padding equals torchvision's -inf padding because the input is
  post-ReLU, hence non-negative). Default input 224x224x3.
- stem="cifar": 3x3/1 conv (64), BN, ReLU, no max-pool, for 32x32 inputs (the usual
  "ResNet-18 on CIFAR" adaptation). Default input 32x32x3; this is what the
  conf/model/resnet{18,34,50,101,152}.yaml configs select.
- Four stages of basic (18, 34) or bottleneck (50, 101, 152) blocks, widths 64..512
  (bottleneck outputs 256..2048), stride 2 at the start of stages 2-4, placed on the 3x3
  conv of bottlenecks ("ResNet v1.5", as torchvision).
- Shortcuts: identity, 1x1 conv + BN projection where dimensions change (option B,
  default) or on every block (C). Option A is refused for the bottleneck depths and,
  to keep the pinned torchvision counts the only layout reachable by default, for all.
- Convs without bias, FC with bias. With num_classes=1000 the trainable parameter counts
  equal torchvision's: 11,689,512 / 21,797,672 / 25,557,032 / 44,549,160 / 60,192,808
  (torchvision's count includes BN gamma/beta but not the running statistics).
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
from keras import layers

from .bottleneck import (BOTTLENECK_A_WHY, EXPANSION, bottleneck_block,
                         check_projection_option)
from .cifar import basic_block
from .layers import bn, classifier, conv, relu
from .registry import register_model

IMAGENET_WIDTHS = (64, 128, 256, 512)
IMAGENET_STAGES = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
STEMS = ("imagenet", "cifar")
BASIC_A_WHY = ("the torchvision layout these nets reproduce uses 1x1 conv + BN projections "
               "where dimensions change, and the pinned parameter counts assume it.")


def _stem(inputs, stem: str, width: int):
    if stem == "imagenet":
        x = relu(bn(conv(inputs, width, 7, 2, name="stem_conv"), name="stem_bn"),
                 name="stem_relu")
        x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
        return layers.MaxPooling2D(3, strides=2, padding="valid", name="stem_pool")(x)
    return relu(bn(conv(inputs, width, 3, 1, name="stem_conv"), name="stem_bn"),
                name="stem_relu")


def imagenet_resnet(depth: int, num_classes: int = 1000, shortcut: Optional[str] = "B",
                    stem: str = "imagenet", input_shape=None,
                    widths: Sequence[int] = IMAGENET_WIDTHS,
                    name: Optional[str] = None) -> keras.Model:
    """ResNet-{18,34,50,101,152}; input_shape defaults to 224x224x3 (imagenet stem) or
    32x32x3 (cifar stem)."""
    if depth not in IMAGENET_STAGES:
        raise ValueError(f"ImageNet ResNet depth must be one of "
                         f"{', '.join(map(str, IMAGENET_STAGES))}, got {depth}")
    if stem not in STEMS:
        raise ValueError(f"stem must be one of {', '.join(STEMS)}, got {stem!r}")
    block, stages = IMAGENET_STAGES[depth]
    bottleneck = block == "bottleneck"
    default = name or f"resnet{depth}"
    option = check_projection_option(shortcut, default,
                                     BOTTLENECK_A_WHY if bottleneck else BASIC_A_WHY)
    if input_shape is None:
        input_shape = (224, 224, 3) if stem == "imagenet" else (32, 32, 3)
    inputs = keras.Input(shape=input_shape, name="images")
    x = _stem(inputs, stem, widths[0])
    channels = widths[0]
    for stage, (count, width) in enumerate(zip(stages, widths), start=1):
        for b in range(1, count + 1):
            stride = 2 if stage > 1 and b == 1 else 1
            bname = f"stage{stage}_block{b}"
            if bottleneck:
                x = bottleneck_block(x, channels, width, stride, option, name=bname,
                                     stride_on_3x3=True)
                channels = width * EXPANSION
            else:
                x = basic_block(x, channels, width, stride, option, name=bname)
                channels = width
    outputs = classifier(x, num_classes)
    return keras.Model(inputs, outputs, name=default)


# ----------------------------------------------------------------- registered models
# He et al. 2016, Table 1, in torchvision's layout, option B. Parameter counts at the
# entry defaults (imagenet stem) and 10 classes; conf/model/ selects stem=cifar, which has
# (7*7 - 3*3) * 3 * 64 = 7,680 fewer weights.

def _imagenet(depth: int, params: int):
    block = IMAGENET_STAGES[depth][0]
    features = IMAGENET_WIDTHS[-1] * (EXPANSION if block == "bottleneck" else 1)
    return register_model(family="imagenet", depth=depth, block=block, default_shortcut="B",
                          params=params, features=features)


@_imagenet(18, params=11_181_642)
def resnet18(num_classes=10, shortcut="B", **kwargs):
    return imagenet_resnet(18, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_imagenet(34, params=21_289_802)
def resnet34(num_classes=10, shortcut="B", **kwargs):
    return imagenet_resnet(34, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_imagenet(50, params=23_528_522)
def resnet50(num_classes=10, shortcut="B", **kwargs):
    return imagenet_resnet(50, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_imagenet(101, params=42_520_650)
def resnet101(num_classes=10, shortcut="B", **kwargs):
    return imagenet_resnet(101, num_classes=num_classes, shortcut=shortcut, **kwargs)


@_imagenet(152, params=58_164_298)
def resnet152(num_classes=10, shortcut="B", **kwargs):
    return imagenet_resnet(152, num_classes=num_classes, shortcut=shortcut, **kwargs)
