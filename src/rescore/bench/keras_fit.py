"""Measurement 3: the stock way to train the same model, Keras `compile` + `fit`.

The model is the same architecture built from Keras' stock layers (`model.batchnorm=keras`:
Keras' own BatchNormalization), which is what a Keras user trains; when rescore's model
differs from that (its fused BN, the default), the bench also times `fit` on rescore's
own model, so the gain of the layer and the gain of the loop are reported apart.

Kept fair: the same architecture and precision policy, SGD with momentum 0.9 and the
config's rate, weight decay (Keras' decoupled form, the same amount of work as the explicit
L2), an accuracy metric (rescore counts errors too), the same `jit_compile`, and
`steps_per_execution` = trainer.steps_per_call. The input is a tf.data pipeline of the
usual shape: shuffled indices → batch → gather the uint8 rows → the very pad-crop-flip
and normalisation rescore uses → prefetch.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from ..config import Config
from ..data.augment import pad_crop_flip
from ..train.build import Run, run_model
from ..train.step import preprocess
from .timing import Stopwatch, Timing


def build_keras_model(c: Config, batchnorm: Optional[str] = None) -> keras.Model:
    """The config's model as a run builds it (seeded from the run's seed), with the
    config's batch normalisation unless `batchnorm` names another kind."""
    keras.utils.set_random_seed(c.seed)
    return run_model(replace(c, model=replace(c.model,
                                              batchnorm=batchnorm or c.model.batchnorm)))


def augmented_batches(run: Run) -> tf.data.Dataset:
    c, x_train = run.settings, run.splits.x_train
    x = tf.constant(x_train)
    y = tf.constant(run.splits.y_train.astype(np.int32))
    mean = tf.constant(run.mean, tf.float32)
    std = tf.constant(run.std, tf.float32)
    seed, augment = c.seed, c.data.augment

    def to_batch(step, idx):
        images = tf.gather(x, idx)
        if augment:
            images = pad_crop_flip(images, seed, step)
        return preprocess(images, mean, std), tf.gather(y, idx)

    # Shuffling indices, not images, keeps each new iterator (each fit call) cheap.
    return (tf.data.Dataset.range(len(x_train)).repeat()
            .shuffle(len(x_train), seed=c.seed)
            .batch(c.data.batch_size, drop_remainder=True).enumerate()
            .map(to_batch, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


class _FirstExecutionDone(keras.callbacks.Callback):
    """Marks the end of the first batch (the first compiled execution): the clock of a
    fit call starts there, so iterator start-up and the first call are not counted."""

    def __init__(self):
        super().__init__()
        self.watch = None

    def on_train_batch_end(self, batch, logs=None):
        if self.watch is None:
            self.watch = Stopwatch()


class KerasFit:
    """`batchnorm="keras"`: the model as stock Keras layers build it (the baseline a Keras
    user has); None: rescore's own model, so only the training loops differ."""

    def __init__(self, run: Run, batchnorm: Optional[str] = "keras"):
        c = run.settings
        self.k = c.trainer.steps_per_call
        self.model = build_keras_model(c, batchnorm)
        self.model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=c.optim.lr, momentum=c.optim.momentum,
                                           nesterov=c.optim.nesterov, weight_decay=c.optim.wd),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"], jit_compile=c.trainer.jit_compile,
            steps_per_execution=self.k)
        self.dataset = augmented_batches(run)

    def run(self, iterations: int) -> Timing:
        """Time of `iterations` iterations of one fit call, after its first execution."""
        mark = _FirstExecutionDone()
        self.model.fit(self.dataset, epochs=1, steps_per_epoch=self.k + iterations,
                       verbose=0, callbacks=[mark], shuffle=False)
        return mark.watch.stop()
