"""`trainer.data_on_device`: the training split uploaded once, batches gathered in the call.

Off (the default), the host gathers each call's uint8 rows with numpy (`x_train[idx]`) and
sends them: for CIFAR at batch 128 and k iterations per call, k × 393 KB over PCIe on a GPU,
and a host gather the device waits for. On, `build_run` copies the training images
(50,000×32×32×3 uint8, 150 MB for CIFAR) and labels to the compute device once; each call
then gets only the int32 indices of its batches ([B] or [k, B]) and gathers on the device,
so nothing per iteration runs in Python besides that call.

The gather copies the same uint8 rows the host's `x_train[idx]` picks, so the step sees the
same batch and a run is bitwise the run with the switch off (tests/test_device_data.py).
The copies are tf.constants captured by the compiled functions, not variables: they are
no part of a checkpoint (`Run.trackables`), and a resume uploads them again from the data
set. A one-iteration call uses a gather around the one-iteration step and a k-iteration
call one around the k-iteration step, so each runs the very ops its host-fed twin runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf


def compute_device() -> str:
    """Where the training data goes: the first GPU when there is one, else the CPU."""
    return "/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"


def upload(x_train: np.ndarray, y_train: np.ndarray,
           device: Optional[str] = None) -> Tuple[tf.Tensor, tf.Tensor]:
    """The training images and labels as tensors on `device`, copied once, dtypes kept
    (uint8 images: a quarter of float32's memory; the step casts after the gather)."""
    with tf.device(device or compute_device()):
        # tf.constant builds on the host; identity under the device scope moves it there
        return tf.identity(tf.constant(x_train)), tf.identity(tf.constant(y_train))


@dataclass(frozen=True)
class DeviceSteps:
    """The steps of a run with its data on the device, fed batch indices (int32):
    single(indices[B], step, lr) and multi(indices[k, B], steps[k], lrs[k]) (None when
    trainer.steps_per_call is 1); each returns what its host-fed step returns."""
    single: Callable
    multi: Optional[Callable]


def make_device_steps(train_step, multi_step, images: tf.Tensor, labels: tf.Tensor,
                      jit_compile: bool = False) -> DeviceSteps:
    """Wrap the one-iteration `train_step` and the k-iteration `multi_step` (or None) in a
    gather from `images`/`labels` (upload's tensors), each one compiled call."""
    return DeviceSteps(single=_gathering(train_step, images, labels, jit_compile),
                       multi=(_gathering(multi_step, images, labels, jit_compile)
                              if multi_step is not None else None))


def _gathering(step_fn, images: tf.Tensor, labels: tf.Tensor, jit_compile: bool) -> Callable:
    body = getattr(step_fn, "python_function", step_fn)  # trace the body, not a nested call

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def gathered(indices, steps, lrs):
        return body(tf.gather(images, indices), tf.gather(labels, indices), steps, lrs)

    def call(indices, steps, lrs):
        # int32: the only per-call upload (BatchOrder's numpy indices are int64)
        return gathered(tf.constant(indices, tf.int32), steps, lrs)

    call.compiled = gathered  # the tf.function itself (its traces, for tests)
    return call
