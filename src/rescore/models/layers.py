"""Building blocks shared by every ResNet family, faithful to the original Torch/Caffe models.

- Convolutions have no bias: a BN follows and its beta would make the bias redundant.
- BN uses momentum 0.9 / epsilon 1e-5 (Keras' momentum is the running-average decay,
  so 0.9 here is PyTorch/Torch's 0.1).
- Kernels use untruncated He-normal (fan-in) init, as in He et al. 2015.
- 3x3 stride-2 convolutions pad one pixel on every side; TF's 'same' would pad only
  bottom/right on even sizes and shift every feature map by half a pixel.
"""

from __future__ import annotations

import sys

import keras
from keras import layers

from .batchnorm import batchnorm_layer

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
DEEP_GRAPH_RECURSION_LIMIT = 20_000


def allow_deep_graphs(limit: int = DEEP_GRAPH_RECURSION_LIMIT) -> None:
    """Keras 3 walks a functional graph with a recursive depth-first search (about one
    Python frame per layer), so a ~3000-layer ResNet-1001 or ResNet-1202 overflows Python's
    default limit of 1000 frames, when the model is built and again whenever it is traced
    or called. So the limit is raised for the rest of the process, never restored;
    `build_model`, the one way models are made, calls this before every build."""
    if sys.getrecursionlimit() < limit:
        sys.setrecursionlimit(limit)


def he_normal() -> keras.initializers.Initializer:
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_in",
                                              distribution="untruncated_normal")


def conv(x, filters: int, kernel: int, stride: int, name: str):
    """Conv without bias; explicit symmetric padding whenever the stride is above 1."""
    pad = (kernel - 1) // 2
    if stride > 1 and pad > 0:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False,
                         kernel_initializer=he_normal(), name=name)(x)


def bn(x, name: str, gamma_zero: bool = False):
    init = "zeros" if gamma_zero else "ones"
    return batchnorm_layer(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                           gamma_initializer=init, name=name)(x)


def relu(x, name: str):
    return layers.ReLU(name=name)(x)


def conv_bn(x, filters: int, kernel: int, stride: int, name: str):
    return bn(conv(x, filters, kernel, stride, name=f"{name}_conv"), name=f"{name}_bn")


def classifier(x, num_classes: int, name: str = "head"):
    x = layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    return layers.Dense(num_classes, kernel_initializer=he_normal(), bias_initializer="zeros",
                        name=f"{name}_fc")(x)


class SubsampleZeroPad(layers.Layer):
    """Option-A shortcut: take every other pixel, append zero channels. Parameter-free."""

    def __init__(self, stride: int, extra_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride
        self.extra_channels = extra_channels

    def call(self, x):
        # A 1x1 average pool at the stride keeps exactly the pixels x[:, ::s, ::s] keeps,
        # bit for bit forward and backward, and runs as one pooling kernel: TensorFlow's CPU
        # strided slice and its gradient took 7.6 % of a ResNet-20 step, the pool and the
        # pad below about a quarter of that (issue 17; results/bench/README.md). Average,
        # not max: XLA has no deterministic max-pool gradient (jit_compile with op
        # determinism fails), while the average's gradient is plain arithmetic.
        x = keras.ops.average_pool(x, pool_size=1, strides=self.stride, padding="valid")
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, self.extra_channels]])

    def compute_output_shape(self, shape):
        def sub(n):
            return None if n is None else -(-n // self.stride)
        return (shape[0], sub(shape[1]), sub(shape[2]), shape[3] + self.extra_channels)

    def get_config(self):
        return {**super().get_config(), "stride": self.stride,
                "extra_channels": self.extra_channels}


SHORTCUT_OPTIONS = ("A", "B", "C")


def shortcut(x, in_channels: int, out_channels: int, stride: int, option: str, name: str):
    """The three shortcut options of He et al. 2016, §4.1.

    A: identity; subsample + zero-pad where dimensions increase (no parameters).
    B: identity; 1x1 projection (+BN) only where dimensions increase.
    C: 1x1 projection (+BN) on every block.
    """
    changes = stride != 1 or in_channels != out_channels
    if option == "C" or (option == "B" and changes):
        return conv_bn(x, out_channels, 1, stride, name=f"{name}_proj")
    if not changes:
        return x
    if option == "A":
        return SubsampleZeroPad(stride, out_channels - in_channels, name=f"{name}_subpad")(x)
    raise ValueError(f"unknown shortcut option {option!r}; valid: {', '.join(SHORTCUT_OPTIONS)}")
