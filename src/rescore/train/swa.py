"""Stochastic weight averaging (Izmailov et al. 2018, "Averaging Weights Leads to Wider
Optima and Better Generalization", Algorithm 1; `optim.swa.start`, off by default).

The run trains with its schedule until `optim.swa.start` (the paper: about 75% of the
budget), then at the constant rate `optim.swa.lr` (the paper's constant variant, cycle
length c = 1; the cyclical one is not offered), and averages the weights equally,
w_swa ← (w_swa·n + w)/(n + 1), after every `optim.swa.every` iterations from the start
(default one epoch: the paper averages "at the end of each epoch" with a constant rate),
and after the last iteration if it is not on that cadence, so every run averages at least
one iterate.

At the end the average becomes the model's weights, and BN's running statistics — which
are no average of the iterates' statistics — are recomputed on the training set as the
paper does (§3.2, "one additional pass over the data"): the plain mean over one epoch of
batches of each BN layer's batch mean and variance (torch.optim.swa_utils.update_bn, with
its equal weight per batch). The pass sees the training augmentation (crop and flip, from
iterations after the run's last, so still a function of (seed, iteration)), not cutout or
mixing, as the authors' code passes its training loader.

The average and its count are `SwaState`, checkpointed, so a resumed run continues it.
"""

from __future__ import annotations

from typing import Iterable, List, Optional

import keras
import numpy as np
import tensorflow as tf

from .ema import averaged_variables


def swa_update(average, value, count):
    """The equal average of `count` iterates and one more: average + (value − average)/(n+1)."""
    return average + (value - average) / tf.cast(count + 1, average.dtype)


def sample_due(done, start: int, every: int, max_steps: int):
    """Is the model after `done` iterations an SWA sample? done = start + k·every, k ≥ 1,
    or the last iteration. Works on ints and int64 tensors alike."""
    after = done - start
    return (done > start) & ((after % every == 0) | (done == max_steps))


class SwaState(tf.Module):
    """The running equal average of the samples and how many it holds (checkpointed)."""

    def __init__(self, sources: List):
        super().__init__(name="swa")
        self.averages = [tf.Variable(tf.zeros_like(tf.convert_to_tensor(v)), trainable=False,
                                     name=f"swa_{i}") for i, v in enumerate(sources)]
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False, name="count")


class Swa:
    """SWA of `model`'s weights from iteration `start` (scaled), a sample every `every`."""

    def __init__(self, model: keras.Model, start: int, every: int, max_steps: int):
        self.start, self.every, self.max_steps = int(start), int(every), int(max_steps)
        self.sources = averaged_variables(model)
        self.state = SwaState(self.sources)

    def update_after(self, step) -> None:
        """Inside the compiled step, after iteration `step` (0-based) has been applied."""
        done = tf.cast(step, tf.int64) + 1

        def take():
            count = self.state.count
            for average, source in zip(self.state.averages, self.sources):
                average.assign(swa_update(average, tf.convert_to_tensor(source), count))
            count.assign_add(1)
            return tf.constant(True)

        tf.cond(sample_due(done, self.start, self.every, self.max_steps), take,
                lambda: tf.constant(False))

    def finish(self, model: keras.Model, batches: Iterable) -> None:
        """The average becomes the weights; BN statistics recomputed over `batches`."""
        if int(self.state.count) == 0:
            raise RuntimeError("SWA has no sample to average: the run stopped before "
                               f"iteration {self.start + 1}")
        for source, average in zip(self.sources, self.state.averages):
            source.assign(average)
        recompute_bn_statistics(model, batches)


def bn_layers(model: keras.Model) -> List:
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)]


def recompute_bn_statistics(model: keras.Model, batches: Iterable) -> None:
    """Each BN layer's running mean and variance := the mean over `batches` (normalised
    float images) of its batch statistics in training mode. A training-mode call moves
    the running value to m·old + (1−m)·batch; from old = 0 the batch's own statistic is
    new/(1−m). Nothing else changes: the weights are only read."""
    layers = bn_layers(model)
    if not layers:
        return
    forward = tf.function(lambda x: model(x, training=True))
    sums: Optional[List[np.ndarray]] = None
    n = 0
    for x in batches:
        for layer in layers:
            layer.moving_mean.assign(tf.zeros_like(layer.moving_mean))
            layer.moving_variance.assign(tf.zeros_like(layer.moving_variance))
        forward(x)
        stats = [np.asarray(v.numpy(), np.float64) / (1.0 - layer.momentum)
                 for layer in layers for v in (layer.moving_mean, layer.moving_variance)]
        sums = stats if sums is None else [s + t for s, t in zip(sums, stats)]
        n += 1
    if n == 0:
        raise ValueError("recomputing BN statistics needs at least one batch")
    values = iter(sums)
    for layer in layers:
        for v in (layer.moving_mean, layer.moving_variance):
            v.assign((next(values) / n).astype(np.float32))
