"""The compiled training and evaluation steps.

The loss is softmax cross-entropy plus the paper's L2 term written out explicitly,
wd/2 · Σ‖w‖², so its gradient is exactly wd·w — the weight decay of Caffe, Torch and
PyTorch SGD. (Keras' L2(λ) regulariser adds λ·Σw², twice that; Keras 3's `weight_decay`
is decoupled from the gradient. Neither is the paper's.)

Augmentation and normalisation run inside the compiled step, so the host only gathers
uint8 rows; a non-finite loss or gradient is detected before anything is applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

import keras
import tensorflow as tf

from ..config import CropPadding
from ..data.augment import pad_crop_flip
from ..models.unit_layers import feed_step_seed

if TYPE_CHECKING:
    from ..config import Config, OptimConfig
    from .modern import Modern


@dataclass(frozen=True)
class StepInputs:
    """What a training step makes of the uint8 rows and the iteration it is handed: the
    crop and flip of that iteration (when `augment`; data/augment.py) and any random layer's
    draw, both from (seed, iteration); then normalisation with the training split's mean
    and std (arrays, or numbers in tests)."""
    mean: Any
    std: Any
    seed: int
    augment: bool
    pad_with_mean: bool = False  # data.crop_padding=mean: crop after normalising

    @classmethod
    def of(cls, c: "Config", mean, std) -> "StepInputs":
        """A run's inputs: its seed and data group, with the normalisation of its split."""
        return cls(mean, std, c.seed, c.data.augment,
                   pad_with_mean=c.data.crop_padding == CropPadding.mean)


def training_inputs(images_u8, step, mean, std, inputs: StepInputs):
    """The normalised batch a training step feeds the model: crop and flip (when augmenting)
    and normalisation, in the order data.crop_padding says. Black padding (the default) crops
    the uint8 images, so the 4 padded pixels are 0 before the mean is subtracted; mean
    padding normalises first, so they are 0 after it, the mean itself."""
    if not inputs.augment:
        return preprocess(images_u8, mean, std)
    if inputs.pad_with_mean:
        return pad_crop_flip(preprocess(images_u8, mean, std), inputs.seed, step)
    return preprocess(pad_crop_flip(images_u8, inputs.seed, step), mean, std)


def decayed_variables(model: keras.Model, include_bn_and_bias: bool) -> List[tf.Variable]:
    """Conv and dense kernels always; BN γ/β and biases only when asked (optim.wd_bn)."""
    chosen = []
    for v in model.trainable_variables:
        is_kernel = v.path.endswith("kernel") and len(v.shape) > 1
        if is_kernel or include_bn_and_bias:
            chosen.append(v)
    return chosen


def l2_penalty(variables: Sequence[tf.Variable], wd: float):
    """wd/2 · Σ‖w‖² (∂/∂w = wd·w)."""
    if not variables or wd == 0:
        return tf.constant(0.0, tf.float32)
    return 0.5 * wd * tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, tf.float32)))
                                for v in variables])


def preprocess(images_u8, mean, std):
    """uint8 → float on [0, 1], minus the training mean, over the std."""
    return (tf.cast(images_u8, tf.float32) / 255.0 - mean) / std


def cross_entropy(labels, logits):
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32)))


def count_errors(labels, logits):
    wrong = tf.not_equal(tf.argmax(logits, axis=-1, output_type=tf.int32),
                         tf.cast(labels, tf.int32))
    return tf.reduce_sum(tf.cast(wrong, tf.float32))


def all_finite(loss, grads) -> tf.Tensor:
    checks = [tf.reduce_all(tf.math.is_finite(loss))]
    checks += [tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None]
    return tf.reduce_all(tf.stack(checks))


def make_train_step(model: keras.Model, optimizer, o: "OptimConfig", inputs: StepInputs,
                    jit_compile: bool = False, loss_scale=None,
                    modern: Optional["Modern"] = None) -> Callable:
    """step(images_u8, labels, step, lr) → {loss, l2, errors, finite}; updates only if finite.

    From the optim group: the L2 term's `wd`, over the variables `wd_bn` chooses.
    `loss_scale` (float16 only, precision.py): the gradient is taken of the scaled loss; a
    step whose gradients overflow is skipped and the scale halved, which is not divergence:
    `finite` then reports the loss alone. `modern` (train/modern.py, built with the run;
    None: every switch off, the paper's step op for op): cutout, mixup/CutMix, label
    smoothing, and the EMA/SWA updates after an applied iteration; a mixed batch's errors
    count against its dominant label (losses.py)."""
    mean = tf.constant(inputs.mean, tf.float32)
    std = tf.constant(inputs.std, tf.float32)
    seed, wd = inputs.seed, o.wd
    variables = model.trainable_variables
    decay_vars = decayed_variables(model, o.wd_bn)

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def train_step(images_u8, labels, step, lr) -> Dict[str, tf.Tensor]:
        x = training_inputs(images_u8, step, mean, std, inputs)
        mixed = None
        if modern is not None:
            x, mixed = modern.regularize(x, labels, seed, step)
        feed_step_seed(model, seed, step)  # e.g. a dropout shortcut's mask; no-op for most
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            ce = (cross_entropy(labels, logits) if modern is None
                  else modern.loss(labels, logits, mixed, cross_entropy))
            l2 = l2_penalty(decay_vars, wd)
            loss = ce + l2
            scaled = loss_scale.scale(loss) if loss_scale is not None else loss
        grads = tape.gradient(scaled, variables)
        if loss_scale is not None:
            grads = loss_scale.unscale(grads)
        finite = all_finite(loss, grads)

        def apply():
            optimizer.apply(grads, variables, lr)
            if modern is not None:
                modern.after_apply(step)
            return tf.constant(True)

        tf.cond(finite, apply, lambda: tf.constant(False))
        if loss_scale is not None:
            loss_scale.update(finite)
            finite = tf.reduce_all(tf.math.is_finite(loss))
        counted = labels if modern is None else modern.error_labels(labels, mixed)
        return {"loss": ce, "l2": l2, "errors": count_errors(counted, logits), "finite": finite}

    return train_step


def make_eval_step(model: keras.Model, mean, std, jit_compile: bool = False) -> Callable:
    """eval_step(images_u8, labels) → {loss_sum, errors} over one batch (BN in inference mode)."""
    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def eval_step(images_u8, labels):
        logits = model(preprocess(images_u8, mean, std), training=False)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32))
        return {"loss_sum": tf.reduce_sum(losses), "errors": count_errors(labels, logits)}

    return eval_step


def evaluate(eval_step: Callable, images, labels, batch_size: int) -> Dict[str, float]:
    """Mean loss and error over a whole split (the last batch may be short)."""
    loss_sum, errors = 0.0, 0.0
    for start in range(0, len(images), batch_size):
        out = eval_step(images[start:start + batch_size], labels[start:start + batch_size])
        loss_sum += float(out["loss_sum"])
        errors += float(out["errors"])
    n = max(1, len(images))
    return {"loss": loss_sum / n, "error": errors / n}
