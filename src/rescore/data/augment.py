"""The paper's training augmentation as stateless ops: every crop and flip is a pure
function of (seed, iteration), so a resumed run sees exactly the batches an
uninterrupted one would.

Pad 4 zero pixels on each side, take a random 32×32 crop, flip horizontally with
probability ½ (He et al. 2016, §4.2). The crop and the flip are one gather: the
column indices of a flipped image simply run backwards.

What the padding holds is a convention the paper leaves open ("4 pixels are padded on each
side"). rescore pads the uint8 images with zeros, black, before the per-pixel mean is
subtracted (train/step.py: training_inputs), as torchvision's RandomCrop(32, padding=4)
and akamaster's reproduction do. fb.resnet.torch pads after normalising, so its padding is
the mean colour: `data.crop_padding=mean` does that, an ablation axis off by default. This
function pads whatever it is given with zeros; the caller's order decides which it is.
"""

from __future__ import annotations

import tensorflow as tf

# Named, not "auto_select": XLA would pick another generator (ThreeFry) than TensorFlow's
# kernels (Philox), and a run with trainer.jit_compile=true would see other crops and flips.
# Both draws are integers for the same reason: XLA turns random bits into floats its own
# way, so a float draw (u < 0.5) gives other flips under XLA even with the same generator.
RNG_ALG = "philox"


def augment_seeds(seed, step):
    """Two independent stateless seeds (crop, flip) for iteration `step` of run `seed`."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)])
    return tf.random.experimental.stateless_split(base, num=2, alg=RNG_ALG)


def pad_crop_flip(images, seed, step, pad: int = 4):
    """images: [B, H, W, C] (any dtype) → randomly padded-cropped-flipped, same shape."""
    crop_seed, flip_seed = tf.unstack(augment_seeds(seed, step))
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform([batch, 2], seed=crop_seed, minval=0,
                                          maxval=2 * pad + 1, dtype=tf.int32, alg=RNG_ALG)
    flip = tf.random.stateless_uniform([batch, 1], seed=flip_seed, minval=0, maxval=2,
                                       dtype=tf.int32, alg=RNG_ALG) == 1
    rows = offsets[:, :1] + tf.range(height)[None, :]
    forward = tf.range(width)[None, :]
    cols = offsets[:, 1:] + tf.where(flip, width - 1 - forward, forward)
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(cropped, cols, axis=2, batch_dims=1)
