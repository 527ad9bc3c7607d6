"""One training run, top to bottom: data → model → steps → checkpoints → result.json.

`run(settings, run_dir)` is the only function that sees the whole config; everything
below gets a checked group (schedule.Warmup: the optim group) or plain arguments.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Dict, Optional

import keras
import tensorflow as tf

from ..config import Config, DataConfig, config_digest
from ..data import load_splits
from ..data.pipeline import BatchOrder, Splits, normalization
from ..models import build_model, count_trainable_params, resolved_placement, \
    resolved_shortcut
from ..errors import DivergedError, Preempted  # noqa: F401 (DivergedError: re-exported)
from .checkpoint import Checkpoints, RunState, WarmupState
from .distributed import make_distributed_train_step, make_strategy, strategy_scope
from .logging import LogWindow, MetricsLog, Progress
from .modern import Modern, bn_pass_batches
from .multistep import chunk_lengths, iterate_steps, make_multi_step
from .optimizer import SGDMomentum
from .precision import make_loss_scale, precision_policy
from .rundir import RunLock, choose_run_dir, finished_result
from .schedule import Warmup, parse_scale, scaled_schedule
from .signals import StopRequest
from .step import decayed_variables, evaluate, make_eval_step, make_train_step
from .weights import weights_sha256
from .weights_file import WEIGHTS_FILE, RunDescription, save_weights_file

log = logging.getLogger(__name__)

# Parts of a checkpoint that older rescore versions did not save (checkpoint.py restores
# such a checkpoint without them; they start empty).
ADDED_TO_CHECKPOINTS = {"warmup": "warm-up error window",
                        "log_window": "running sums of the next training record"}


def configure_tensorflow(threads: int, deterministic: bool) -> None:
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError as err:  # TF already started in this process (tests, bench):
            log.warning("trainer.threads=%d not applied: %s", threads, err)  # speed only
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def run(c: Config, run_dir: Path) -> Dict:
    """Train in `run_dir` (a new sibling with trainer.restart), one process at a time; a
    finished run only reports its saved result (rundir.py). SIGTERM/SIGUSR1/SIGUSR2 end it
    with a checkpoint and `Preempted` (signals.py). The returned dict adds `run_dir` and, for a
    run finished earlier, `already_finished`."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir = choose_run_dir(run_dir, c.trainer.restart, c.trainer.resume)
    with RunLock(run_dir):  # checked under the lock: another process may just have finished
        result = finished_result(run_dir)
        if result is not None:
            log.info("run already finished in %s: test error %.2f%%", run_dir,
                     100 * result["test_error"])
            return {**result, "run_dir": str(run_dir), "already_finished": True}
        with StopRequest() as stop:
            return {**_train(c, run_dir, stop), "run_dir": str(run_dir)}


def run_splits(d: DataConfig) -> Splits:
    """The arrays of a run's data set, split as its config says (also rescore eval's)."""
    return load_splits(d.name, d.root, d.download, d.val_split, d.synthetic_train,
                       d.synthetic_test, d.num_classes)


def run_model(c: Config) -> keras.Model:
    """The model a run's config describes (also how rescore eval rebuilds it). Layers keep
    the precision policy they are built with."""
    with precision_policy(c.trainer.precision):
        return build_model(c.model.name, num_classes=c.data.num_classes,
                           shortcut=c.shortcut.option, batchnorm=c.model.batchnorm,
                           unit=c.unit, **c.model.kwargs)


def _train(c: Config, run_dir: Path, stop: StopRequest) -> Dict:
    saved = run_dir / "result.json"
    configure_tensorflow(c.trainer.threads, c.trainer.deterministic)
    splits = run_splits(c.data)
    mean, std = normalization(splits.x_train, c.data.normalize)

    keras.utils.set_random_seed(c.seed)  # weight init derives from the run's seed
    strategy = make_strategy(c.trainer.strategy)  # None: one device (distributed.py)
    # mirrored variables need the scope
    with strategy_scope(strategy):
        model = run_model(c)
    loss_scale = make_loss_scale(c.trainer.precision)  # float16 only

    o = c.optim
    max_steps = scaled_schedule(o.max_steps, [], 0, o.schedule_scale)[0]
    with strategy_scope(strategy):  # momentum buffers mirrored like the weights
        optimizer = SGDMomentum(model.trainable_variables, o.momentum, o.nesterov)
    warmup = Warmup(o, WarmupState())
    state = RunState(warmup.state)
    log_window = LogWindow()
    order = BatchOrder(len(splits.x_train), c.data.batch_size, c.seed)
    modern = Modern.of(c, model, order.steps_per_epoch)  # None: the paper's step (issue 15)
    checkpoints = Checkpoints(run_dir / "checkpoints", c.trainer.keep_checkpoints,
                              may_be_missing=ADDED_TO_CHECKPOINTS,
                              model=model, optimizer=optimizer, state=state,
                              warmup=warmup.state, log_window=log_window,
                              **({"loss_scale": loss_scale} if loss_scale else {}),
                              **(modern.trackables() if modern else {}))
    resumed_from = checkpoints.restore_latest()
    if resumed_from:
        log.info("resuming from %s (iteration %d)", resumed_from, int(state.step))

    make_step = (make_train_step if strategy is None
                 else partial(make_distributed_train_step, strategy))
    train_step = make_step(model, optimizer, o.wd, decayed_variables(model, o.wd_bn),
                           mean, std, seed=c.seed, augment=c.data.augment,
                           jit_compile=c.trainer.jit_compile, loss_scale=loss_scale,
                           **({"modern": modern} if modern else {}))
    k = c.trainer.steps_per_call
    multi_step = make_multi_step(train_step, c.trainer.jit_compile) if k > 1 else None
    eval_step = make_eval_step(model, mean, std, jit_compile=c.trainer.jit_compile)

    metrics = MetricsLog(run_dir, resume_step=int(state.step))
    if metrics.dropped:
        log.info("metrics.jsonl: dropped %d records written after iteration %d (they run "
                 "again)", metrics.dropped, int(state.step))
    if metrics.dropped_events:
        log.info("tensorboard: dropped %d events written after iteration %d (they run "
                 "again)", metrics.dropped_events, int(state.step))
    try:
        train_loop(
            train_step=train_step, eval_step=eval_step, splits=splits, state=state,
            checkpoints=checkpoints, metrics=metrics, warmup=warmup, log_window=log_window,
            max_steps=max_steps, order=order, eval_every=c.trainer.eval_every,
            log_every=c.trainer.log_every, checkpoint_every=c.trainer.checkpoint_every,
            eval_batch_size=c.data.eval_batch_size, progress=c.trainer.progress,
            multi_step=multi_step, steps_per_call=k, stop=stop,
            ema=modern.ema if modern else None)
        if modern is not None and modern.swa is not None:  # the average becomes the model
            modern.swa.finish(model, bn_pass_batches(splits.x_train, c.data.batch_size, mean,
                                                     std, c.seed, c.data.augment, max_steps))
        result = final_result(c, model, eval_step, splits, state, warmup, max_steps,
                              ema=modern.ema if modern else None)
    finally:
        metrics.close()
    for split in ("val", "test"):
        if f"{split}_error" in result:
            metrics_line = {k.split("_", 1)[1]: v for k, v in result.items()
                            if k.startswith(split + "_")}
            log.info("final %s: %s", split, metrics_line)
    # The weights before result.json, so a run folder holding a result holds its weights.
    save_weights_file(run_dir / WEIGHTS_FILE, model, RunDescription(
        config=result["config"], mean=mean, std=std, weights_sha256=result["weights_sha256"],
        train_images=len(splits.x_train)))
    unfinished = saved.with_name(saved.name + ".partial")  # write, then rename: a kill
    unfinished.write_text(json.dumps(result, indent=2) + "\n")  # never leaves half of it
    unfinished.replace(saved)
    return result


def train_loop(*, train_step, eval_step, splits, state: RunState, checkpoints: Checkpoints,
               metrics: MetricsLog, warmup: Warmup, log_window: LogWindow, max_steps: int,
               order: BatchOrder, eval_every: int, log_every: int, checkpoint_every: int,
               eval_batch_size: int, progress: Optional[bool], multi_step=None,
               steps_per_call: int = 1, stop=None, ema=None) -> None:
    """Iterations state.step … max_steps-1; every random choice from (seed, iteration).

    Whatever accumulates between checkpoints lives in checkpointed variables (`warmup`,
    `log_window`, `state`), so a resumed run continues the uninterrupted one exactly.
    With `multi_step` (multistep.py), up to `steps_per_call` iterations run per call; the
    body below still sees them one at a time. With `ema` (ema.Ema), each evaluation also
    evaluates the averaged weights, as split "<heldout>_ema"."""
    start = int(state.step)
    bar = Progress(start, max_steps, progress)
    segment_start = time.perf_counter() - float(state.elapsed)
    batch = order.batch_size
    chunk_length = chunk_lengths(  # one at a time while an error-based warm-up decides lr
        steps_per_call, max_steps, (eval_every, checkpoint_every), warmup.decided)
    if stop is not None:  # a stop may only happen where a chunk of iterations ends
        chunk_length = stop.track_chunks(chunk_length, max_steps)

    def save(done: int) -> None:
        state.elapsed.assign(time.perf_counter() - segment_start)
        checkpoints.save(done)

    for step, lr, out in iterate_steps(
            train_step=train_step, multi_step=multi_step, x_train=splits.x_train,
            y_train=splits.y_train, order=order, lr_for=warmup.lr, start=start,
            stop=max_steps, chunk_length=chunk_length):
        loss = float(out["loss"])
        if not bool(out["finite"]):
            raise DivergedError(
                f"non-finite loss or gradient at iteration {step} (loss={loss}, lr={lr}); "
                f"nothing from this step was applied. Last good checkpoint: "
                f"{checkpoints.latest or 'none yet'}")
        seconds = out["seconds"]
        state.train_seconds.assign_add(seconds)
        state.step.assign(step + 1)
        errors = float(out["errors"])
        log_window.add(loss, errors, batch, seconds)
        warmup.observe(step, errors / batch)

        done = step + 1
        if bar.bar_shown:
            bar.update(1, loss=loss, lr=lr, img_s=log_window.images_per_sec())
        if done % log_every == 0 or done == max_steps:
            record = log_window.record()
            metrics.write(done, "train", loss=record["loss"], error=record["error"], lr=lr,
                          images_per_sec=record["images_per_sec"])
            bar.line(done, lr=lr, **record)
            log_window.reset()
        if done % eval_every == 0 or done == max_steps:
            held = evaluate(eval_step, splits.x_heldout, splits.y_heldout, eval_batch_size)
            metrics.write(done, splits.heldout_name, **held)
            if ema is not None:
                with ema.swapped_in():
                    held = evaluate(eval_step, splits.x_heldout, splits.y_heldout,
                                    eval_batch_size)
                metrics.write(done, splits.heldout_name + "_ema", **held)
        if done % checkpoint_every == 0 or done == max_steps:
            save(done)
        if stop is not None and done < max_steps and stop.should_stop(done):
            if done % checkpoint_every:  # else saved just above
                save(done)
            bar.close()
            stop.pass_on()  # e.g. submitit's requeue, now that the checkpoint exists
            raise Preempted(f"{stop.signal_name}: stopped after iteration {done} of "
                            f"{max_steps} and saved {checkpoints.latest}; run the same "
                            f"command again to resume")
    bar.close()
    state.elapsed.assign(time.perf_counter() - segment_start)


def final_result(c: Config, model, eval_step, splits, state: RunState, warmup: Warmup,
                 max_steps: int, ema=None) -> Dict:
    """result.json: the final test error (never used to choose anything), size, time, digest.
    With `ema` also the averaged weights' test error, loss and hash (`ema_…`); with SWA the
    model already holds the SWA average."""
    test = evaluate(eval_step, splits.x_test, splits.y_test, c.data.eval_batch_size)
    result = {
        "model": c.model.name, "seed": c.seed,
        "shortcut": resolved_shortcut(c.model.name, c.shortcut.option),
        "placement": resolved_placement(c.model.name, c.unit),
        "test_error": test["error"], "test_loss": test["loss"],
        "params": count_trainable_params(model),
        "steps": int(state.step), "max_steps": max_steps,
        "schedule_scale": float(parse_scale(c.optim.schedule_scale)),
        "finished": int(state.step) == max_steps,
        "warmup_end": warmup.end,
        "wall_time_s": float(state.elapsed),
        "images_per_sec": int(state.step) * c.data.batch_size
                          / max(float(state.train_seconds), 1e-9),
        "config_digest": config_digest(asdict(c)),
        "weights_sha256": weights_sha256(model),
        "config": asdict(c),
    }
    if splits.heldout_name == "val":
        val = evaluate(eval_step, splits.x_heldout, splits.y_heldout, c.data.eval_batch_size)
        result.update(val_error=val["error"], val_loss=val["loss"])
    if ema is not None:
        with ema.swapped_in():
            averaged = evaluate(eval_step, splits.x_test, splits.y_test, c.data.eval_batch_size)
            result.update(ema_test_error=averaged["error"], ema_test_loss=averaged["loss"],
                          ema_weights_sha256=weights_sha256(model))
    return result
