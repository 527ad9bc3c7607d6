"""One training run, top to bottom: data → model → steps → checkpoints → result.json.

`run(settings, run_dir)` is the only function that sees the whole config. The run's parts
are built in build.py (`build_run`, shared with the bench); `train_loop` gets them as one
`Run` and its cadence as a `Cadence`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import tensorflow as tf

from ..config import Config, TrainerConfig, config_digest
from ..models import count_trainable_params, resolved_placement, resolved_shortcut
from ..errors import DivergedError, Preempted  # noqa: F401 (DivergedError: re-exported)
from .build import ADDED_TO_CHECKPOINTS, Run, build_run
from .checkpoint import Checkpoints
from .logging import MetricsLog, Progress
from .modern import finish_swa
from .multistep import chunk_lengths, iterate_steps
from .precision import set_tensor_float_32
from .provenance import read_segments, record_segment, segments_summary
from .rundir import RunLock, choose_run_dir, finished_result
from .schedule import parse_scale
from .signals import StopRequest
from .step import evaluate
from .weights import weights_sha256
from .weights_file import EMA_WEIGHTS_FILE, WEIGHTS_FILE, RunDescription, save_weights_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cadence:
    """How often the loop logs a training record, evaluates the held-out split and saves a
    checkpoint, in iterations (each also happens after the last iteration). It never
    changes what a run computes."""
    log_every: int
    eval_every: int
    checkpoint_every: int

    @classmethod
    def of(cls, t: TrainerConfig) -> "Cadence":
        return cls(t.log_every, t.eval_every, t.checkpoint_every)

    @property
    def boundaries(self) -> Tuple[int, int]:
        """Where a chunk of iterations must end, so the loop sees the model there."""
        return self.eval_every, self.checkpoint_every


def due(every: int, done: int, max_steps: int) -> bool:
    """After iteration `done`: on the cadence `every`, or the run's last."""
    return done % every == 0 or done == max_steps


def configure_tensorflow(t: TrainerConfig) -> None:
    """Threads, op determinism and TF32 (GPUs only) as trainer.* says, before any op runs."""
    if t.threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(t.threads)
            tf.config.threading.set_inter_op_parallelism_threads(t.threads)
        except RuntimeError as err:  # TF already started in this process (tests, bench):
            log.warning("trainer.threads=%d not applied: %s", t.threads, err)  # speed only
    if t.deterministic:
        tf.config.experimental.enable_op_determinism()
    set_tensor_float_32(t)


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
            result = {**_train(c, run_dir, stop), "run_dir": str(run_dir)}
            if stop.requested:  # it came in the last chunk or the final phase: not dropped
                stop.pass_on()
                raise Preempted(f"{stop.signal_name} came as the run was finishing: it "
                                f"finished and its result is saved in {run_dir}; stopped as "
                                f"asked (a sweep's next job does not start)")
            return result


def _train(c: Config, run_dir: Path, stop: StopRequest) -> Dict:
    configure_tensorflow(c.trainer)

    # the run's parts: data, normalisation, model, optimizer, warm-up, steps (build.py)
    run = build_run(c)

    # resume: everything checkpointed comes back (the EMA/SWA averages too), or the run
    # starts at iteration 0
    checkpoints = Checkpoints(run_dir / "checkpoints", c.trainer.keep_checkpoints,
                              may_be_missing=ADDED_TO_CHECKPOINTS, **run.trackables())
    resumed_from = checkpoints.restore_latest()
    start = int(run.state.step)
    if resumed_from:
        log.info("resuming from %s (iteration %d)", resumed_from, start)
    # who trains from here, where, with which code: one more line of segments.jsonl, a
    # history never cut back (provenance.py); it changes nothing the run computes
    record_segment(run_dir, start, float(run.state.elapsed))

    # the records: metrics.jsonl and TensorBoard, cut back to the checkpoint's iteration
    metrics = MetricsLog(run_dir, resume_step=start)
    if metrics.dropped:
        log.info("metrics.jsonl: dropped %d records written after iteration %d (they run "
                 "again)", metrics.dropped, start)
    if metrics.dropped_events:
        log.info("tensorboard: dropped %d events written after iteration %d (they run "
                 "again)", metrics.dropped_events, start)

    # train; with SWA its average then becomes the model (BN recomputed, swa.py); then the
    # final evaluation (with EMA also of the averaged weights) and the segments' summary
    try:
        train_loop(run, checkpoints, metrics, Cadence.of(c.trainer), c.trainer.progress, stop)
        finish_swa(run)
        result = {**final_result(run), "segments": segments_summary(read_segments(run_dir))}
    finally:
        metrics.close()
    for split in ("val", "test"):
        if f"{split}_error" in result:
            metrics_line = {k.split("_", 1)[1]: v for k, v in result.items()
                            if k.startswith(split + "_")}
            log.info("final %s: %s", split, metrics_line)

    # the weights before result.json, so a run folder holding a result holds its weights;
    # result.json written, then renamed: a kill never leaves half of it
    save_final_weights(run, run_dir, result)
    saved = run_dir / "result.json"
    unfinished = saved.with_name(saved.name + ".partial")
    unfinished.write_text(json.dumps(result, indent=2) + "\n")
    unfinished.replace(saved)
    return result


def save_final_weights(run: Run, run_dir: Path, result: Dict) -> None:
    """model.weights.h5, and with EMA on model_ema.weights.h5 (the average swapped in, then
    out again bitwise), each labelled with the hash result.json records for it."""
    def describe(sha256: str) -> RunDescription:
        return RunDescription(config=result["config"], mean=run.mean, std=run.std,
                              weights_sha256=sha256, train_images=len(run.splits.x_train))

    save_weights_file(run_dir / WEIGHTS_FILE, run.model, describe(result["weights_sha256"]))
    if run.ema is not None:
        with run.ema.swapped_in():
            save_weights_file(run_dir / EMA_WEIGHTS_FILE, run.model,
                              describe(result["ema_weights_sha256"]))


def train_loop(run: Run, checkpoints: Checkpoints, metrics: MetricsLog, cadence: Cadence,
               progress: Optional[bool], stop: Optional[StopRequest] = None) -> None:
    """Iterations run.state.step … run.max_steps-1; every random choice from (seed, iteration).

    Whatever accumulates between checkpoints lives in checkpointed variables (`run.warmup`,
    `run.log_window`, `run.state`, the EMA/SWA averages), so a resumed run continues the
    uninterrupted one exactly. With `run.multi_step` (multistep.py), up to
    trainer.steps_per_call iterations run per call; the body below still sees them one at
    a time. With EMA on (modern.py), each evaluation also evaluates the averaged weights,
    as split "<heldout>_ema"."""
    state, warmup, log_window, splits = run.state, run.warmup, run.log_window, run.splits
    max_steps, batch = run.max_steps, run.order.batch_size
    eval_batch_size = run.settings.data.eval_batch_size
    ema = run.ema

    # where this segment starts: the restored iteration, and the clock it had run for
    start = int(state.step)
    bar = Progress(start, max_steps, progress)
    segment_start = time.perf_counter() - float(state.elapsed)

    # how many iterations one call may run: one at a time while an error-based warm-up
    # decides the rate; a chunk ends where the loop must see the model, or may stop
    chunk_length = chunk_lengths(run.settings.trainer.steps_per_call, max_steps,
                                 cadence.boundaries, warmup.decided)
    if stop is not None:
        chunk_length = stop.track_chunks(chunk_length, max_steps)

    def save(done: int) -> None:
        state.elapsed.assign(time.perf_counter() - segment_start)
        checkpoints.save(done)

    for step, lr, out in iterate_steps(
            train_step=run.train_step, multi_step=run.multi_step, x_train=splits.x_train,
            y_train=splits.y_train, order=run.order, lr_for=warmup.lr, start=start,
            stop=max_steps, chunk_length=chunk_length, device_steps=run.device_steps):
        # a non-finite step was not applied: stop, pointing at the last good checkpoint
        loss = float(out["loss"])
        if not bool(out["finite"]):
            raise DivergedError(
                f"non-finite loss or gradient at iteration {step} (loss={loss}, lr={lr}); "
                f"nothing from this step was applied. Last good checkpoint: "
                f"{checkpoints.latest or 'none yet'}")

        # the iteration counts: time, the next record's sums, the warm-up's error window
        seconds = out["seconds"]
        state.train_seconds.assign_add(seconds)
        state.step.assign(step + 1)
        errors = float(out["errors"])
        log_window.add(loss, errors, batch, seconds)
        warmup.observe(step, errors / batch)

        # on their cadence, and after the last iteration: log, evaluate, checkpoint
        done = step + 1
        if bar.bar_shown:
            bar.update(1, loss=loss, lr=lr, img_s=log_window.images_per_sec())
        if due(cadence.log_every, done, max_steps):
            record = log_window.record()
            metrics.write(done, "train", loss=record["loss"], error=record["error"], lr=lr,
                          images_per_sec=record["images_per_sec"])
            bar.line(done, lr=lr, **record)
            log_window.reset()
        if due(cadence.eval_every, done, max_steps):
            held = evaluate(run.eval_step, splits.x_heldout, splits.y_heldout,
                            eval_batch_size)
            metrics.write(done, splits.heldout_name, **held)
            if ema is not None:  # the averaged weights on the same split, swapped back after
                with ema.swapped_in():
                    held = evaluate(run.eval_step, splits.x_heldout, splits.y_heldout,
                                    eval_batch_size)
                metrics.write(done, splits.heldout_name + "_ema", **held)
        if due(cadence.checkpoint_every, done, max_steps):
            save(done)

        # a stop request (SIGTERM, …): checkpoint here, hand the signal on, end the process
        if stop is not None and done < max_steps and stop.should_stop(done):
            if not due(cadence.checkpoint_every, done, max_steps):  # else saved just above
                save(done)
            bar.close()
            stop.pass_on()  # e.g. submitit's requeue, now that the checkpoint exists
            raise Preempted(f"{stop.signal_name}: stopped after iteration {done} of "
                            f"{max_steps} and saved {checkpoints.latest}; run the same "
                            f"command again to resume")
    bar.close()
    state.elapsed.assign(time.perf_counter() - segment_start)


def final_result(run: Run) -> Dict:
    """result.json: the final test error (never used to choose anything), size, time, digest.
    With EMA on also the averaged weights' test error, loss and hash and the decay used
    (`ema_…`; schedule.ema_decay); with SWA on
    the model already holds the SWA average (finish_swa)."""
    c, state, splits = run.settings, run.state, run.splits
    test = evaluate(run.eval_step, splits.x_test, splits.y_test, c.data.eval_batch_size)
    result = {
        "model": c.model.name, "seed": c.seed,
        "shortcut": resolved_shortcut(c.model.name, c.shortcut.option),
        "placement": resolved_placement(c.model.name, c.unit),
        "test_error": test["error"], "test_loss": test["loss"],
        "params": count_trainable_params(run.model),
        "steps": int(state.step), "max_steps": run.max_steps,
        "schedule_scale": float(parse_scale(c.optim.schedule_scale)),
        "finished": int(state.step) == run.max_steps,
        "warmup_end": run.warmup.end,
        "wall_time_s": float(state.elapsed),
        "images_per_sec": int(state.step) * c.data.batch_size
                          / max(float(state.train_seconds), 1e-9),
        "config_digest": config_digest(asdict(c)),
        "weights_sha256": weights_sha256(run.model),
        "config": asdict(c),
    }
    if splits.heldout_name == "val":
        val = evaluate(run.eval_step, splits.x_heldout, splits.y_heldout,
                       c.data.eval_batch_size)
        result.update(val_error=val["error"], val_loss=val["loss"])
    if run.ema is not None:
        with run.ema.swapped_in():
            averaged = evaluate(run.eval_step, splits.x_test, splits.y_test,
                                c.data.eval_batch_size)
            result.update(ema_test_error=averaged["error"], ema_test_loss=averaged["loss"],
                          ema_weights_sha256=weights_sha256(run.model),
                          ema_decay=run.ema.decay)  # as used: scaled with the schedule
    return result
