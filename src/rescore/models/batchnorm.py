"""Batch normalisation: one fused kernel in training (the default), or Keras' own layer.

Keras 3's `BatchNormalization` computes the batch moments and the normalisation with
separate TensorFlow ops, and autodiff differentiates through each of them: several passes
over every activation, forward and backward. TensorFlow's `FusedBatchNormV3` (and its
gradient, `FusedBatchNormGradV3`) does it in one kernel each way, on oneDNN (CPU), cuDNN
(GPU) and in XLA. On ResNet-20 that is about 1.2x less CPU time per training step on the
2-core machine (results/bench/README.md); the normalisation itself is the same.

One visible difference, and it is the paper's side: the running variance is updated with
the unbiased batch variance (times m/(m-1), m = N·H·W), as Caffe and Torch do; Keras uses
the biased one. The forward output, the gradients and the running mean equal Keras' to
float rounding (tests/test_batchnorm.py). Inference and a frozen layer take Keras' path
(a fixed affine transform), so saved weights load into either kind.

`model.batchnorm=keras` selects the stock layer (for comparison, or to match Keras runs).
The builders call `layers.bn` deep inside their blocks, so the kind is set for the
duration of one `build_model` call (`batchnorm_kind`) rather than threaded through every
block function.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import keras
import tensorflow as tf

BATCHNORM_KINDS = ("fused", "keras")
_kind = "fused"


@contextlib.contextmanager
def batchnorm_kind(kind: str) -> Iterator[None]:
    """`with batchnorm_kind("keras"): build …` — the BN layers built inside use `kind`."""
    global _kind
    if kind not in BATCHNORM_KINDS:
        raise ValueError(f"unknown batchnorm kind {kind!r}; valid: {', '.join(BATCHNORM_KINDS)}")
    previous, _kind = _kind, kind
    try:
        yield
    finally:
        _kind = previous


def batchnorm_layer(**kwargs) -> keras.layers.Layer:
    """A BN layer of the kind in force (see `batchnorm_kind`)."""
    cls = FusedBatchNormalization if _kind == "fused" else keras.layers.BatchNormalization
    return cls(**kwargs)


@keras.saving.register_keras_serializable(package="rescore")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras' layer (same weights, names and config) with a fused training path."""

    def call(self, inputs, training=None, mask=None):
        if (not (training and self.trainable) or mask is not None
                or not self._fusable(inputs)):
            return super().call(inputs, training=training, mask=mask)
        # The kernel takes bf16/fp16 activations with float32 scale, offset and statistics,
        # and accumulates in float32: what Keras' upcast achieves, without two casts.
        y, batch_mean, batch_variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=tf.cast(self.gamma, tf.float32),
            offset=tf.cast(self.beta, tf.float32),
            mean=tf.constant([], tf.float32), variance=tf.constant([], tf.float32),
            epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
            is_training=True)
        keep = self.momentum  # Keras' momentum: the running average's decay (0.9)
        self.moving_mean.assign(self.moving_mean * keep + batch_mean * (1.0 - keep))
        self.moving_variance.assign(self.moving_variance * keep
                                    + batch_variance * (1.0 - keep))  # unbiased, as Torch
        return tf.cast(y, self.compute_dtype)

    def _fusable(self, inputs) -> bool:
        """The kernel normalises the channels of a 4-D NHWC tensor, with scale and centre."""
        return (len(inputs.shape) == 4 and self.axis in (-1, 3) and self.scale
                and self.center and not self.renorm and not self.synchronized)
