"""Regularisers of a training batch beyond the paper's crop and flip, each off by default
(`data.cutout`, `data.mixup`, `data.cutmix`). Like augment.py, every draw is a stateless
function of (seed, iteration), so a resumed run sees exactly the batches of an
uninterrupted one.

- Cutout (DeVries & Taylor 2017, "Improved Regularization of Convolutional Neural Networks
  with Cutout", §3): a `size`×`size` square of each image is set to zero. Its centre is
  drawn uniformly over the whole image, so the square may lie partly outside it (§3.2: not
  constraining it to lie inside "was important"). It is applied after normalisation, as in
  the authors' code (uoguelph-mlrg/Cutout, train.py appends Cutout after Normalize): the
  zeroed pixels are the training mean.
- mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization", eq. 1): one λ ~
  Beta(α, α) per batch; every image becomes λ·x_i + (1−λ)·x_j and its target λ·y_i +
  (1−λ)·y_j.
- CutMix (Yun et al. 2019, "CutMix: Regularization Strategy to Train Strong Classifiers
  with Localizable Features", §3.1): one λ ~ Beta(α, α) per batch; a box of side
  W·√(1−λ) × H·√(1−λ) at a uniformly drawn centre (clipped to the image) is pasted from
  x_j into x_i, and λ becomes 1 − box area / image area, the share actually kept. Every
  batch is mixed (the authors' CIFAR command mixes a batch with probability 0.5,
  --cutmix_prob; not offered here).

The partner j of image i is image B−1−i of the same batch (the batch reversed, as timm's
Mixup does): batches are already random permutations (pipeline.BatchOrder), so this pairs
random images without another draw.

Integer draws (centres) come from Philox as augment.py's do. λ comes from two stateless
Gamma draws, g₁/(g₁+g₂) ~ Beta(α, α). TensorFlow has no XLA kernel for the stateless
Gamma, so the λ of every iteration of a run is drawn once before training (`beta_table`,
the same ops and seeds, so the same values bit for bit) and the step looks its own up by
index, which XLA compiles: runs with and without trainer.jit_compile mix with the same λ.
Iterations past the run's last (only the bench numbers them) reuse the table cyclically.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from .augment import RNG_ALG

# Tags folded into the (seed, iteration) seed: each regulariser its own stream, and none
# the crop/flip stream of augment.py (which never folds a tag in).
CUTOUT_TAG = 1
MIX_TAG = 2


class Mixed(NamedTuple):
    """Targets of a mixed batch: a share `lam` of `labels` and 1−lam of `partners`."""
    labels: tf.Tensor
    partners: tf.Tensor
    lam: tf.Tensor  # float32 scalar


def regularizer_seed(seed, step, tag: int):
    """The stateless seed of regulariser `tag` at iteration `step` of run `seed`."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, tag, alg=RNG_ALG)


def square_mask(height: int, width: int, centers, size: int):
    """[B, H, W, 1] float mask: 0 inside the size×size square around each centre
    (rows/cols c − size//2 … c − size//2 + size − 1, clipped to the image), 1 elsewhere."""
    top = centers[:, :1] - size // 2  # [B, 1]
    left = centers[:, 1:] - size // 2
    rows = tf.range(height)[None, :]
    cols = tf.range(width)[None, :]
    in_rows = (rows >= top) & (rows < top + size)  # [B, H]
    in_cols = (cols >= left) & (cols < left + size)  # [B, W]
    inside = in_rows[:, :, None] & in_cols[:, None, :]
    return tf.cast(~inside, tf.float32)[..., None]


def pixel_draw(shape, height: int, width: int, key):
    """[*shape, 2] int32 (row, column), uniform over the pixels: one integer draw in
    [0, H·W) per position, split into row and column."""
    flat = tf.random.stateless_uniform(shape, seed=key, minval=0, maxval=height * width,
                                       dtype=tf.int32, alg=RNG_ALG)
    return tf.stack([flat // width, flat % width], axis=-1)


def cutout_centers(batch, height: int, width: int, seed, step):
    """[B, 2] int32 (row, column) centres, uniform over the image (integer draws)."""
    return pixel_draw([batch], height, width, regularizer_seed(seed, step, CUTOUT_TAG))


def cutout(images, seed, step, size: int):
    """images: [B, H, W, C] float, normalised → each with its own square zeroed."""
    height, width = images.shape[1], images.shape[2]
    centers = cutout_centers(tf.shape(images)[0], height, width, seed, step)
    return images * tf.cast(square_mask(height, width, centers, size), images.dtype)


def beta_draw(seed, step, alpha: float):
    """λ ~ Beta(α, α) for iteration `step`, as float32: g₁/(g₁+g₂) of two Gamma(α) draws
    (in float64, so that a small α rarely underflows both; if it does, λ = ½)."""
    key = regularizer_seed(seed, step, MIX_TAG)
    first, second = tf.unstack(tf.random.experimental.stateless_split(key, num=2,
                                                                      alg=RNG_ALG))
    g1 = tf.random.stateless_gamma([], seed=first, alpha=alpha, dtype=tf.float64)
    g2 = tf.random.stateless_gamma([], seed=second, alpha=alpha, dtype=tf.float64)
    total = g1 + g2
    return tf.cast(tf.where(total > 0, g1 / tf.where(total > 0, total, 1.0), 0.5),
                   tf.float32)


def beta_table(seed: int, alpha: float, stop: int) -> tf.Tensor:
    """[stop] float32: `beta_draw(seed, s, alpha)` for every iteration s < stop, drawn in
    one graph before training (about 3 s for 64,000 on 2 CPU cores). The step gathers λ
    from it (`table_lambda`), so the Gamma draws stay out of the compiled step."""
    return _draw_betas(tf.constant(seed, tf.int64), tf.constant(alpha, tf.float64),
                       tf.range(stop, dtype=tf.int64))


@tf.function(reduce_retracing=True)  # tensors in: runs of other seeds, α and lengths share traces
def _draw_betas(seed, alpha, steps):
    return tf.map_fn(lambda s: beta_draw(seed, s, alpha), steps, fn_output_signature=tf.float32)


def table_lambda(lambda_table, step):
    """λ of iteration `step` from the run's `beta_table`. A training step is always below the
    table's length (the run's max_steps); the bench numbers iterations past it, and there
    the table wraps around (on CPU an index past the end would raise, under XLA and on GPU
    it would be clamped or read as 0 without a word)."""
    length = tf.cast(tf.shape(lambda_table)[0], tf.int64)
    return tf.gather(lambda_table, tf.math.floormod(tf.cast(step, tf.int64), length))


def box_key(seed, step):
    """The seed of CutMix's box centre: split off the λ stream's key, so λ and the centre
    are independent."""
    key = regularizer_seed(seed, step, MIX_TAG)
    return tf.random.experimental.stateless_split(key, num=3, alg=RNG_ALG)[2]


def mixup(images, labels, lam) -> tuple:
    """λ·x + (1−λ)·x reversed; targets λ:1−λ of labels and reversed labels."""
    partners = tf.reverse(labels, axis=[0])
    lam = tf.cast(lam, images.dtype)
    mixed = lam * images + (1 - lam) * tf.reverse(images, axis=[0])
    return mixed, Mixed(labels, partners, tf.cast(lam, tf.float32))


def cutmix_box(height: int, width: int, lam, center):
    """(top, bottom, left, right) of the pasted box, clipped: ⌊H·√(1−λ)⌋//2 and
    ⌊W·√(1−λ)⌋//2 each way from `center`, so an odd side loses a pixel (as the authors'
    rand_bbox, clovaai/CutMix-PyTorch); cutmix() recomputes λ from the area kept."""
    cut = tf.sqrt(1.0 - lam)
    cut_h = tf.cast(tf.floor(height * cut), tf.int32)
    cut_w = tf.cast(tf.floor(width * cut), tf.int32)
    top = tf.clip_by_value(center[0] - cut_h // 2, 0, height)
    bottom = tf.clip_by_value(center[0] + cut_h // 2, 0, height)
    left = tf.clip_by_value(center[1] - cut_w // 2, 0, width)
    right = tf.clip_by_value(center[1] + cut_w // 2, 0, width)
    return top, bottom, left, right


def cutmix(images, labels, lam, seed, step) -> tuple:
    """Paste one box (the same for the whole batch) from the reversed batch; λ adjusted to
    the share of pixels kept."""
    height, width = images.shape[1], images.shape[2]
    center = pixel_draw([], height, width, box_key(seed, step))
    top, bottom, left, right = cutmix_box(height, width, lam, center)
    rows = tf.range(height)
    cols = tf.range(width)
    in_box = (((rows >= top) & (rows < bottom))[:, None]
              & ((cols >= left) & (cols < right))[None, :])  # [H, W]
    pasted = tf.where(in_box[None, :, :, None], tf.reverse(images, axis=[0]), images)
    area = tf.cast((bottom - top) * (right - left), tf.float32)
    kept = 1.0 - area / float(height * width)
    return pasted, Mixed(labels, tf.reverse(labels, axis=[0]), kept)


def regularize_batch(images, labels, seed, step, cutout_size: int = 0, mixup_alpha: float = 0.0,
                     cutmix_alpha: float = 0.0, lambda_table=None):
    """The switched-on regularisers, in order cutout → mixup or cutmix, on normalised
    float images. Returns (images, Mixed or None). Decided at trace time: with everything
    off this returns its inputs untouched. `lambda_table`: the run's `beta_table` for the
    α in use (train/modern.py draws it), λ looked up at `step`."""
    if cutout_size:
        images = cutout(images, seed, step, cutout_size)
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        return images, None
    if lambda_table is None:
        raise ValueError("mixup and CutMix take λ from the run's beta_table: pass lambda_table")
    lam = table_lambda(lambda_table, step)
    if mixup_alpha > 0:
        return mixup(images, labels, lam)
    return cutmix(images, labels, lam, seed, step)
