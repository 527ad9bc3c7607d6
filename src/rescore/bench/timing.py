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

from ..config import Config, WarmupConfig
from ..train.checkpoint import RunState, WarmupState
from ..train.logging import LogWindow
from ..train.loop import train_loop
from ..train.schedule import Warmup
from .subject import Subject

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

    def __init__(self, subject: Subject, steps_per_call: int, lr: float):
        self.subject, self.k = subject, steps_per_call
        s = subject
        idx = [s.order.indices(i) for i in range(steps_per_call)]
        with tf.device(compute_device()):
            if s.multi_step is None:
                self.fn = s.train_step
                self.images = tf.identity(tf.constant(s.splits.x_train[idx[0]]))
                self.labels = tf.identity(tf.constant(s.splits.y_train[idx[0]]))
                self.lr = tf.identity(tf.constant(lr, tf.float32))
            else:
                self.fn = s.multi_step
                self.images = tf.identity(tf.stack([s.splits.x_train[i] for i in idx]))
                self.labels = tf.identity(tf.stack([s.splits.y_train[i] for i in idx]))
                self.lr = tf.identity(tf.fill([steps_per_call], tf.constant(lr, tf.float32)))

    def step_indices(self, call: int):
        """Distinct iteration numbers per call: fresh augmentation seeds, as in training."""
        with tf.device(compute_device()):
            if self.subject.multi_step is None:
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
    latest = None

    def save(self, step: int) -> None:
        return None


class _NoMetrics:
    def write(self, step: int, split: str, **values) -> None:
        return None


class FullLoop:
    """`train.loop.train_loop` itself, with evaluation, logging and checkpoints set beyond
    the run (and the end-of-run evaluation over an empty held-out set). No warm-up: the
    steady state is measured, k iterations per call even for an error-based warm-up."""

    def __init__(self, subject: Subject, c: Config):
        steady = dataclasses.replace(c.optim, warmup=WarmupConfig())  # off by default
        self.subject, self.k = subject, c.trainer.steps_per_call
        self.warmup = Warmup(steady, WarmupState())
        self.log_window = LogWindow()
        self.splits = dataclasses.replace(subject.splits,
                                          x_heldout=subject.splits.x_heldout[:0],
                                          y_heldout=subject.splits.y_heldout[:0])
        self.state = RunState(self.warmup.state)

    def run(self, iterations: int) -> Timing:
        """Time of the next `iterations` iterations of the loop."""
        start = int(self.state.step)
        watch = Stopwatch()
        train_loop(train_step=self.subject.train_step, eval_step=None, splits=self.splits,
                   state=self.state, checkpoints=_NoCheckpoints(), metrics=_NoMetrics(),
                   warmup=self.warmup, log_window=self.log_window,
                   max_steps=start + iterations, order=self.subject.order,
                   eval_every=NEVER, log_every=NEVER,
                   checkpoint_every=NEVER, eval_batch_size=1, progress=False,
                   multi_step=self.subject.multi_step, steps_per_call=self.k)
        return watch.stop()
