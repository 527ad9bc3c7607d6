"""The Keras layers behind the shortcut variants of He et al. 2016b, Fig. 2 (units.py).

- `Scale`: multiply by a constant λ (constant scaling; the paper's "frozen gates").
- `GatedSum`: (1−g)·s + g·F (exclusive gating) or (1−g)·s + F (shortcut-only gating), for
  a gate g that a 1x1 conv with a sigmoid computes beside it.
- `ShortcutDropout`: dropout of the shortcut, its mask a pure function of (seed, iteration).

Why the dropout mask needs more than Keras' Dropout: that layer draws from a SeedGenerator
whose state advances with every call and is not in rescore's checkpoints, so a resumed run
would draw other masks than an uninterrupted one. Here the layer holds a non-trainable
`step_seed` variable, [seed, iteration], that the training step sets before each forward
pass (`feed_step_seed`, called by train/step.py and train/distributed.py); the mask is drawn
statelessly from it and the layer's own number. A model without such layers gets no extra
operation at all, so default runs stay bitwise the same. Outside rescore's step (Keras
`fit`) the variable keeps its last value and every step draws that same mask.
"""

from __future__ import annotations

import zlib

import keras
import tensorflow as tf

from ..data.augment import RNG_ALG

# Masks are drawn as integers, compared with a threshold: XLA turns random bits into
# floats its own way (data/augment.py), integers come out the same with and without it.
MASK_RESOLUTION = 1 << 24
SHORTCUT_DROPOUT_STREAM = 0x5D0  # folded into (seed, iteration) before the layer's number


@keras.saving.register_keras_serializable(package="rescore")
class Scale(keras.layers.Layer):
    """x · λ, λ a constant (not trained)."""

    def __init__(self, factor: float, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(factor)

    def call(self, x):
        return x * keras.ops.cast(self.factor, x.dtype)

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="rescore")
class GatedSum(keras.layers.Layer):
    """[F, s, g] → (1−g)·s + g·F (exclusive) or (1−g)·s + F (shortcut-only), elementwise."""

    def __init__(self, exclusive: bool, **kwargs):
        super().__init__(**kwargs)
        self.exclusive = bool(exclusive)

    def call(self, inputs):
        residual, short, gate = inputs
        if self.exclusive:
            residual = gate * residual
        return residual + (1 - gate) * short

    def compute_output_shape(self, shapes):
        return shapes[0]

    def get_config(self):
        return {**super().get_config(), "exclusive": self.exclusive}


@keras.saving.register_keras_serializable(package="rescore")
class ShortcutDropout(keras.layers.Layer):
    """Dropout as in Caffe and Torch: in training each value is kept with probability 1−p
    and scaled by 1/(1−p); in evaluation the input passes through. The mask of an
    iteration is a function of (seed, iteration) — the `step_seed` variable — and of the
    layer's name, so two units draw different masks and a resumed run draws the same ones."""

    def __init__(self, ratio: float, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= ratio < 1:
            raise ValueError(f"dropout ratio must be in [0, 1), got {ratio}")
        self.ratio = float(ratio)
        # a stable number per layer name (Python's hash() changes between processes)
        self.stream = zlib.crc32(self.name.encode()) & 0x7FFFFFFF

    def build(self, input_shape):
        self.step_seed = self.add_weight(shape=(2,), dtype="int64", initializer="zeros",
                                         trainable=False, name="step_seed")

    def call(self, x, training=None):
        if not training or self.ratio == 0:
            return x
        keep = self.keep_mask(tf.shape(x))
        return tf.where(keep, x * tf.cast(1 / (1 - self.ratio), x.dtype), tf.zeros_like(x))

    def keep_mask(self, shape) -> tf.Tensor:
        """True where a value is kept: drawn from (seed, iteration), this layer's number
        and, under tf.distribute, the replica (each replica draws its own shard's mask)."""
        seed = tf.random.experimental.stateless_fold_in(
            tf.convert_to_tensor(self.step_seed), tf.constant(SHORTCUT_DROPOUT_STREAM, tf.int64),
            alg=RNG_ALG)
        seed = tf.random.experimental.stateless_fold_in(
            seed, tf.constant(self.stream, tf.int64), alg=RNG_ALG)
        replica = tf.distribute.get_replica_context()
        if replica is not None and replica.num_replicas_in_sync > 1:
            seed = tf.random.experimental.stateless_fold_in(
                seed, tf.cast(replica.replica_id_in_sync_group, tf.int64), alg=RNG_ALG)
        draws = tf.random.stateless_uniform(shape, seed=seed, minval=0,
                                            maxval=MASK_RESOLUTION, dtype=tf.int32,
                                            alg=RNG_ALG)
        return draws >= int(round(self.ratio * MASK_RESOLUTION))

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio}


def step_seeded_layers(model: keras.Model) -> list:
    """The layers whose training randomness is set per iteration by `feed_step_seed`."""
    return [layer for layer in model.layers if isinstance(layer, ShortcutDropout)]


def feed_step_seed(model: keras.Model, seed, step) -> None:
    """Inside a compiled training step, before the forward pass: hand (seed, iteration) to
    every layer that draws from it. Nothing is added to the graph of a model without such
    layers. Under tf.distribute call it in cross-replica context: every copy is set."""
    seeded = step_seeded_layers(model)
    if not seeded:
        return
    value = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)])
    for layer in seeded:
        layer.step_seed.assign(value)
