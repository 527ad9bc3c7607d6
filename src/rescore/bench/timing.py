"""Measurements 1 and 2: the bare compiled step, and rescore's real training loop.

Both time whole calls and end on a value read back to the host, so queued device work
is inside the measured interval (GPU execution is asynchronous). Each returns a `Timing`:
wall-clock seconds, and this process's CPU seconds, which on a machine shared with other
work shows the work done even when the wall clock is stretched by waiting for a core.
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import tensorflow as tf

from ..train.build import Run
from ..train.loop import Cadence, train_loop

NEVER = 10 ** 12  # an eval/log/checkpoint cadence no benchmark reaches


class Timing(NamedTuple):
    wall: float
    cpu: float


class Stopwatch:
    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> Timing:
        return Timing(time.perf_counter() - self.wall, time.process_time() - self.cpu)


def compute_device() -> str:
    return "/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"


class BareStep:
    """The step function the loop calls (single or k-iteration), fed device-resident
    tensors prepared once; only the call itself is timed."""

    def __init__(self, run: Run):
        self.parts, self.k = run, run.settings.trainer.steps_per_call
        lr = run.settings.optim.lr
        idx = [run.order.indices(i) for i in range(self.k)]
        x_train, y_train = run.splits.x_train, run.splits.y_train
        with tf.device(compute_device()):
            if run.multi_step is None:
                self.fn = run.train_step
                self.images = tf.identity(tf.constant(x_train[idx[0]]))
                self.labels = tf.identity(tf.constant(y_train[idx[0]]))
                self.lr = tf.identity(tf.constant(lr, tf.float32))
            else:
                self.fn = run.multi_step
                self.images = tf.identity(tf.stack([x_train[i] for i in idx]))
                self.labels = tf.identity(tf.stack([y_train[i] for i in idx]))
                self.lr = tf.identity(tf.fill([self.k], tf.constant(lr, tf.float32)))

    def step_indices(self, call: int):
        """Distinct iteration numbers per call: fresh augmentation seeds, as in training."""
        with tf.device(compute_device()):
            if self.parts.multi_step is None:
                return tf.identity(tf.constant(call, tf.int64))
            first = call * self.k
            return tf.identity(tf.range(first, first + self.k, dtype=tf.int64))

    def run(self, calls: int, first_call: int = 0) -> Timing:
        """Time of `calls` calls (k iterations each)."""
        seeds = [self.step_indices(first_call + i) for i in range(calls)]
        watch = Stopwatch()
        out = None
        for step in seeds:
            out = self.fn(self.images, self.labels, step, self.lr)
        float(tf.reduce_sum(out["loss"]))  # wait for the device
        return watch.stop()


class _NoCheckpoints:
    """Checkpoints are out of the way of the measurement (the cadence never reaches them;
    this takes the save after the last timed iteration)."""
    latest = None

    def save(self, step: int) -> None:
        return None


class _NoMetrics:
    def write(self, step: int, split: str, **values) -> None:
        return None


class FullLoop:
    """`train.loop.train_loop` itself on the run `build_run` made, with evaluation, logging
    and checkpoints set beyond the run (and the end-of-run evaluation over an empty
    held-out set). Built from a config without warm-up (bench/run.py: `bench_run`), so
    the steady state is measured, k iterations per call."""

    def __init__(self, run: Run):
        self.parts = dataclasses.replace(run, splits=dataclasses.replace(
            run.splits, x_heldout=run.splits.x_heldout[:0],
            y_heldout=run.splits.y_heldout[:0]))

    def run(self, iterations: int) -> Timing:
        """Time of the next `iterations` iterations of the loop."""
        parts = self.parts
        segment = dataclasses.replace(parts, max_steps=int(parts.state.step) + iterations)
        watch = Stopwatch()
        train_loop(segment, _NoCheckpoints(), _NoMetrics(), Cadence(NEVER, NEVER, NEVER),
                   progress=False)
        return watch.stop()
