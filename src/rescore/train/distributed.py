"""One run on several devices: `trainer.strategy=mirrored` (tf.distribute.MirroredStrategy).

The paper trained its CIFAR nets on 2 GPUs with 64 images each, BN statistics per GPU.
Here the global batch (data.batch_size) is split evenly across the replicas; each
replica normalises with the statistics of its own shard (Keras BN is per replica unless
`synchronized=True`), which is the paper's setting.

The step keeps the single-device step's meaning (step.py):
  * augmentation runs once on the whole global batch, before it is split, so every image
    gets the crop and flip it would get on one device (pure functions of (seed, step));
  * each replica's cross-entropy is its shard's sum over the *global* batch size, so the
    sum over replicas is the global-batch mean; the explicit L2 term wd/2·Σ‖w‖² is added
    as 1/R of it per replica, so it is counted once in the sum;
  * gradients are summed over replicas (all-reduce), checked for finiteness like on one
    device, and the hand-written SGDMomentum is applied once, in cross-replica context,
    to the mirrored variables (which updates every copy identically);
  * each replica's BN layers update their own copy of the moving statistics from their
    shard; the copies are then averaged, so evaluation and checkpoints (which read the
    first copy) see statistics of the whole batch, not of the first shard only.
Model and optimizer variables must be created under `strategy_scope(strategy)`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Callable, Dict, Optional

import keras
import tensorflow as tf

from ..data.augment import pad_crop_flip
from ..models.unit_layers import feed_step_seed
from .step import (StepInputs, all_finite, count_errors, decayed_variables, l2_penalty,
                   preprocess)

if TYPE_CHECKING:
    from ..config import OptimConfig

SUM = tf.distribute.ReduceOp.SUM


def make_strategy(name: str) -> Optional[tf.distribute.Strategy]:
    """None for "default" (one device, no tf.distribute at all); for "mirrored", one
    replica per visible GPU, or per logical CPU device when there is no GPU (tests)."""
    if name == "default":
        return None
    if name != "mirrored":
        raise ValueError(f"unknown trainer.strategy {name!r}; valid: default, mirrored")
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices)


def strategy_scope(strategy: Optional[tf.distribute.Strategy]):
    """Where variables must be created so that they are mirrored (a no-op without one)."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def make_distributed_train_step(strategy: tf.distribute.Strategy, model: keras.Model,
                                optimizer, o: "OptimConfig", inputs: StepInputs,
                                jit_compile: bool = False, loss_scale=None) -> Callable:
    """step.make_train_step's arguments after `strategy`, and its outputs:
    step(images_u8, labels, step, lr) → {loss, l2, errors, finite}; updates only if finite."""
    if loss_scale is not None or jit_compile:
        raise ValueError("trainer.strategy=mirrored runs in float32/bfloat16 without XLA: "
                         "set trainer.precision!=mixed_float16 and trainer.jit_compile=false")
    mean = tf.constant(inputs.mean, tf.float32)
    std = tf.constant(inputs.std, tf.float32)
    seed, augment, wd = inputs.seed, inputs.augment, o.wd
    variables = model.trainable_variables
    decay_vars = decayed_variables(model, o.wd_bn)
    replicas = strategy.num_replicas_in_sync

    def replica_step(x, labels):
        """On one replica: its shard of the global batch, its share of the loss."""
        context = tf.distribute.get_replica_context()
        global_batch = tf.shape(x)[0]
        shard = global_batch // replicas
        start = context.replica_id_in_sync_group * shard
        x, labels = x[start:start + shard], labels[start:start + shard]
        with tf.GradientTape() as tape:
            logits = model(x, training=True)  # BN: this shard's batch statistics
            ce_sum = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32)))
            ce_share = ce_sum / tf.cast(global_batch, tf.float32)
            l2 = l2_penalty(decay_vars, wd)  # the same on every replica (mirrored weights)
            share = ce_share + l2 / replicas
        grads = tape.gradient(share, variables)
        return ce_share, l2 / replicas, count_errors(labels, logits), grads

    @tf.function(reduce_retracing=True)
    def train_step(images_u8, labels, step, lr) -> Dict[str, tf.Tensor]:
        tf.debugging.assert_equal(tf.shape(images_u8)[0] % replicas, 0,
                                  message="data.batch_size must divide by the replicas")
        if augment:
            images_u8 = pad_crop_flip(images_u8, seed, step)  # the whole batch, as on one device
        x = preprocess(images_u8, mean, std)
        feed_step_seed(model, seed, step)  # every copy, before the replicas run
        per_replica = strategy.run(replica_step, args=(x, labels))
        ce, l2, errors, grads = strategy.reduce(SUM, per_replica, axis=None)
        finite = all_finite(ce + l2, grads)

        def apply():
            optimizer.apply(grads, variables, lr)  # cross-replica: every copy, once
            return tf.constant(True)

        tf.cond(finite, apply, lambda: tf.constant(False))
        average_moving_statistics(strategy, model)
        return {"loss": ce, "l2": l2, "errors": errors, "finite": finite}

    return train_step


def average_moving_statistics(strategy: tf.distribute.Strategy, model: keras.Model) -> None:
    """Every replica's copy of each non-trainable float variable (BN moving mean/variance)
    ← the mean of the copies. Called in cross-replica context, after the replicas ran.
    Integer ones (a dropout shortcut's step seed) are the same on every replica."""
    for variable in model.non_trainable_variables:
        if not tf.as_dtype(variable.dtype).is_floating:
            continue
        mirrored = getattr(variable, "value", variable)  # Keras 3 wraps the tf.Variable
        copies = strategy.experimental_local_results(mirrored)
        if len(copies) > 1:
            variable.assign(tf.add_n([tf.convert_to_tensor(c) for c in copies])
                            / len(copies))
