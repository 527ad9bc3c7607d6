"""Several training iterations per compiled call (`trainer.steps_per_call`).

One call of `make_multi_step(train_step)` runs iterations steps[0], steps[1], … on
device, each with its own batch, learning rate and augmentation seed (the iteration
index), exactly as that many calls of `train_step` would; the per-iteration loss, L2,
error count and finiteness come back as vectors, so the host syncs once per call.

Non-finite values: each iteration still checks its own loss and gradients before
applying anything (step.py). The call stops at the first non-finite iteration, so the
iterations before it are applied, that one is not, and none after it runs: the same
state a one-iteration-per-call loop stops in, at the same iteration.

On the host, `iterate_steps` gathers the uint8 rows of a whole chunk, calls once and
hands the loop one iteration at a time; with the data on the device (device_data.py,
trainer.data_on_device) it sends the chunk's batch indices instead, and the call gathers
the rows itself. A chunk never crosses a point where the loop needs the model as it is
after that iteration (evaluation, checkpoint, the end of the run: `chunk_end`), so
cadences and resume behave as with one iteration per call.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, Iterable, Iterator, Tuple

import numpy as np
import tensorflow as tf

OUTPUTS = ("loss", "l2", "errors")


def make_multi_step(train_step, jit_compile: bool = False) -> Callable:
    """multi(images_u8[k,B,...], labels[k,B], steps[k] int64, lrs[k] float32) →
    {loss, l2, errors: float32[k], finite: bool[k], ran: int32}; `ran` counts the
    iterations executed (the last one unapplied if it was not finite)."""
    body = getattr(train_step, "python_function", train_step)  # trace the body, not a call

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def multi_step(images_u8, labels, steps, lrs) -> Dict[str, tf.Tensor]:
        k = tf.shape(steps)[0]
        zeros = tf.zeros([k], tf.float32)
        init = (tf.constant(0), tf.constant(True), zeros, zeros, zeros,
                tf.zeros([k], tf.bool))

        def keep_going(i, ok, *_):
            return tf.logical_and(i < k, ok)

        def one_iteration(i, ok, loss, l2, errors, finite):
            out = body(images_u8[i], labels[i], steps[i], lrs[i])
            at = [[i]]
            return (i + 1, out["finite"],
                    tf.tensor_scatter_nd_update(loss, at, [out["loss"]]),
                    tf.tensor_scatter_nd_update(l2, at, [out["l2"]]),
                    tf.tensor_scatter_nd_update(errors, at, [out["errors"]]),
                    tf.tensor_scatter_nd_update(finite, at, [out["finite"]]))

        ran, _, loss, l2, errors, finite = tf.while_loop(keep_going, one_iteration, init)
        return {"loss": loss, "l2": l2, "errors": errors, "finite": finite, "ran": ran}

    return multi_step


def chunk_end(step: int, steps_per_call: int, stop: int, boundaries: Iterable[int]) -> int:
    """The end (exclusive) of the chunk starting at `step`: at most `steps_per_call`
    iterations, never past `stop`, and ending on the first multiple of any boundary
    (eval/checkpoint cadence) so the loop sees the model exactly there."""
    end = min(step + steps_per_call, stop)
    for every in boundaries:
        if every > 0:
            end = min(end, (step // every + 1) * every)
    return end


def iterate_steps(*, train_step, multi_step, x_train, y_train, order, lr_for,
                  start: int, stop: int, chunk_length: Callable[[int], int],
                  device_steps=None) -> Iterator[Tuple[int, float, Dict]]:
    """Yields (iteration, lr, {loss, l2, errors, finite, seconds}) for start … stop-1.

    `chunk_length(step)` is how many iterations may run in the call starting at `step`
    (1 whenever the rate may depend on what these iterations show, e.g. an error-based
    warm-up). It is asked lazily, after the loop has handled the previous iteration.
    `seconds` is the call's time shared equally among its iterations. `device_steps`
    (device_data.DeviceSteps, trainer.data_on_device): the calls get batch indices, not
    rows, through the same one- and k-iteration paths."""
    step = start
    while step < stop:
        end = min(stop, step + max(1, chunk_length(step)))
        if end - step == 1 or multi_step is None:
            single = (device_steps.single if device_steps is not None
                      else _host_fed(train_step, x_train, y_train))
            yield from _single(single, order, lr_for(step), step)
            step += 1
            continue
        steps = list(range(step, end))
        lrs = [lr_for(s) for s in steps]
        idx = np.stack([order.indices(s) for s in steps])
        tic = time.perf_counter()
        multi = (device_steps.multi if device_steps is not None
                 else _host_fed(multi_step, x_train, y_train))
        out = multi(idx, tf.constant(steps, tf.int64), tf.constant(lrs, tf.float32))
        values = {key: out[key].numpy() for key in (*OUTPUTS, "finite")}
        seconds = (time.perf_counter() - tic) / len(steps)
        for j, s in enumerate(steps[:int(out["ran"])]):
            yield s, lrs[j], {**{key: float(values[key][j]) for key in OUTPUTS},
                              "finite": bool(values["finite"][j]), "seconds": seconds}
            if not values["finite"][j]:
                return
        step = end


def _host_fed(step_fn, x_train, y_train) -> Callable:
    """step_fn(rows, labels, …) called with batch indices: the host gathers the rows."""
    return lambda idx, steps, lrs: step_fn(x_train[idx], y_train[idx], steps, lrs)


def _single(train_step, order, lr: float, step: int):
    """One iteration, one call: the loop's original path (steps_per_call=1). `train_step`
    takes the batch's indices (_host_fed or device_data's)."""
    idx = order.indices(step)
    tic = time.perf_counter()
    out = train_step(idx, tf.constant(step, tf.int64), tf.constant(lr, tf.float32))
    values = {key: float(out[key]) for key in OUTPUTS}
    finite = bool(out["finite"])
    yield step, lr, {**values, "finite": finite, "seconds": time.perf_counter() - tic}


def chunk_lengths(steps_per_call: int, stop: int, boundaries: Iterable[int],
                  rates_decided: Callable[[int], bool]) -> Callable[[int], int]:
    """The `chunk_length` the loop hands `iterate_steps`: `steps_per_call`, cut at the
    boundaries (chunk_end), and 1 until `rates_decided(step)` (schedule.Warmup.decided:
    an error-based warm-up may still end at any iteration)."""
    boundaries = tuple(boundaries)

    def length(step: int) -> int:
        if not rates_decided(step):
            return 1
        return chunk_end(step, steps_per_call, stop, boundaries) - step

    return length
