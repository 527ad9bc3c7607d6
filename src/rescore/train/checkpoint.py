"""Checkpoints: model, optimizer state, iteration, elapsed time, and everything the loop
accumulates between checkpoints: the warm-up (its end and its window of recent training
errors, `WarmupState`) and the averages of the metrics record being built (`log_window`,
logging.py). A resumed run so continues exactly where the checkpoint was taken.

The data position is a function of (seed, iteration), so no iterator is saved; the
optimizer's momentum buffers exist before any restore (optimizer.py), so a restore can be
checked for having consumed everything it saved. Parts added to the checkpoint later
(`may_be_missing`) are allowed to be absent from one written by an older rescore: they
then start empty, and a log line says so.

A resumed run must never quietly start over: the checkpoints are found by listing the
folder (the `checkpoint` state file may be garbage), tried newest first, and a bad one —
truncated data, missing index, values that do not fit the model — is moved to
`corrupt/` with a warning naming it. If checkpoints exist and none restores, that is an
error, not iteration 0. A save refuses non-finite values, so the newest checkpoint on
disk always holds finite weights.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Set

import numpy as np
import tensorflow as tf

from ..errors import CheckpointError, DivergedError, SaveError
from ..paths import free_name, prefix_taken
from .rundir import CHECKPOINT_PREFIX as PREFIX
from .rundir import checkpoints_on_disk, next_restart
from .schedule import NO_WARMUP, WARMUP_WINDOW

log = logging.getLogger(__name__)

STATE_FILE = "checkpoint"  # tf.train.CheckpointManager's text-proto list
CORRUPT_DIR = "corrupt"


class WarmupState(tf.Module):
    """The variables of schedule.Warmup: where warm-up ends, and the last `window` training
    errors (oldest first; the last min(errors_seen, window) entries are real)."""

    def __init__(self, window: int = WARMUP_WINDOW):
        super().__init__(name="warmup")
        self.end = tf.Variable(NO_WARMUP, dtype=tf.int64, trainable=False, name="end")
        self.recent_errors = tf.Variable(tf.zeros([window], tf.float64), trainable=False,
                                         name="recent_errors")
        self.errors_seen = tf.Variable(0, dtype=tf.int64, trainable=False, name="errors_seen")


class RunState(tf.Module):
    """Everything besides the model, optimizer and accumulators that a resumed run must
    continue from."""

    def __init__(self, warmup: WarmupState):
        super().__init__(name="run_state")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # The warm-up's own variable, also kept here: checkpoints from before WarmupState
        # existed hold the warm-up end at this path (one variable, saved once).
        self.warmup_end = warmup.end
        self.elapsed = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="elapsed_s")
        self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                         name="train_seconds")


class Checkpoints:
    """`trackables` by name. `may_be_missing` maps the names of those added to checkpoints
    later to what they are: a checkpoint written before them restores without them (they
    keep their fresh values, and a log line says so)."""

    def __init__(self, directory: Path, keep: int,
                 may_be_missing: Optional[Dict[str, str]] = None, **trackables):
        self.directory = Path(directory)
        self.keep = keep
        self.trackables = trackables
        self.may_be_missing = dict(may_be_missing or {})
        self._fresh = {name: [v.numpy() for v in trackables[name].variables]
                       for name in self.may_be_missing}
        self.checkpoint = tf.train.Checkpoint(**trackables)
        _set_aside_state_naming_nothing(self.directory)
        self.manager = self._manager()

    def _manager(self) -> tf.train.CheckpointManager:
        return tf.train.CheckpointManager(self.checkpoint, str(self.directory),
                                          max_to_keep=self.keep, checkpoint_name=PREFIX)

    @property
    def latest(self) -> Optional[str]:
        return self.manager.latest_checkpoint

    def save(self, step: int) -> str:
        bad = non_finite_variables(self.trackables)
        if bad:
            raise DivergedError(
                f"not saving a checkpoint at iteration {step}: non-finite values in "
                f"{', '.join(bad[:5])}{' …' if len(bad) > 5 else ''}. Last good checkpoint: "
                f"{self.latest or 'none yet'}")
        try:
            return self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as err:
            raise self._save_failed(step, err) from None

    def _save_failed(self, step: int, err: Exception) -> SaveError:
        """A full disk, a quota or a file-size limit: remove what the save left (TF writes
        into `ckpt-<step>_temp/` and renames at the end) and say where, what the OS said and
        which checkpoint is still good. The earlier checkpoints are not touched."""
        for leftover in self.directory.glob(f"{PREFIX}-{step}_temp*"):
            shutil.rmtree(leftover, ignore_errors=True)
        reason = getattr(err, "message", None) or str(err)
        reason = reason.rsplit("; ", 1)[-1].strip() if "; " in reason else reason.strip()
        then = (f"The newest good checkpoint is {self.latest}; make room (disk, quota, "
                f"`ulimit -f`) and run the same command again to resume from it."
                if self.latest else
                "No checkpoint was saved before it; make room (disk, quota, `ulimit -f`) "
                "and run the same command again to start over.")
        return SaveError(f"could not write the checkpoint {self.directory / f'{PREFIX}-{step}'}"
                         f" ({type(err).__name__}: {reason}). {then}")

    def restore_latest(self) -> Optional[str]:
        """Restore the newest checkpoint that restores completely; None if there are none."""
        found = checkpoints_on_disk(self.directory)
        if not found:
            return None
        _warn_if_state_unreadable(self.directory)
        failures: Dict[str, str] = {}
        for prefix in found:
            problem = self._try_restore(prefix)
            if problem is None:
                if failures or self.latest != prefix:
                    self._forget(failures, kept=[p for p in found if p not in failures])
                return prefix
            failures[prefix] = problem
            log.warning("checkpoint %s is unusable (%s); trying an older one", prefix, problem)
        raise CheckpointError(
            f"{self.directory} holds checkpoints but none can be restored; refusing to start "
            f"over from iteration 0. Problems:\n  - "
            + "\n  - ".join(f"{p}: {why}" for p, why in failures.items())
            + f"\nMove the folder aside, or start over beside it with "
            f"trainer.restart={next_restart(self.directory.parent)}.")

    def _try_restore(self, prefix: str) -> Optional[str]:
        """None if `prefix` restored every saved value into a variable; else the problem."""
        index = Path(prefix + ".index")
        if not index.exists():
            return f"missing index file {index}"
        if not list(index.parent.glob(Path(prefix).name + ".data-*")):
            return f"missing data file {prefix}.data-*"
        try:
            saved = _saved_names(prefix)
            absent = [name for name in self.may_be_missing if name not in saved]
            for name in absent:  # fresh, even after a newer checkpoint failed half-restored
                for variable, value in zip(self.trackables[name].variables, self._fresh[name]):
                    variable.assign(value)  # (a variable shared with a saved part: restored next)
            checkpoint = self.checkpoint if not absent else tf.train.Checkpoint(
                **{k: v for k, v in self.trackables.items() if k not in absent})
            checkpoint.restore(prefix).assert_consumed()
        except Exception as err:  # noqa: BLE001 — truncation surfaces as IndexError, too
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            return f"{type(err).__name__}: {first[:300]}"
        for name in absent:
            log.info("checkpoint %s holds no %s (written by an older rescore): it starts "
                     "empty", prefix, self.may_be_missing[name])
        return None

    def _forget(self, failures: Dict[str, str], kept: List[str]) -> None:
        """Move the bad checkpoints aside (kept for inspection, never reused) and rewrite
        the state file to list the good ones, so the manager numbers and prunes from them."""
        corrupt = self.directory / CORRUPT_DIR
        for prefix in failures:
            name = Path(prefix).name
            # one free prefix for all its files (ckpt-7, else ckpt-7.1, …): an earlier
            # ckpt-7 set aside is kept, and each stays a checkpoint that loads
            target = free_name(corrupt / name, taken=prefix_taken)
            for path in self.directory.glob(name + ".*"):
                corrupt.mkdir(exist_ok=True)
                moved = corrupt / (target.name + path.name[len(name):])
                path.replace(moved)
                log.warning("moved the unusable checkpoint file %s to %s", path, moved)
        # a prefix whose index a kill inside TF's pruning removed is no checkpoint any more
        oldest_first = sorted((p for p in kept if Path(p + ".index").exists()), key=_step_of)
        stamps = [Path(p + ".index").stat().st_mtime for p in oldest_first]
        tf.compat.v1.train.update_checkpoint_state(  # names relative: the folder may move
            str(self.directory), Path(oldest_first[-1]).name,
            all_model_checkpoint_paths=[Path(p).name for p in oldest_first],
            all_model_checkpoint_timestamps=stamps,  # so the manager prunes them as usual
            last_preserved_timestamp=min(stamps) - 1)
        self.manager = self._manager()


def non_finite_variables(trackables: Dict) -> List[str]:
    bad = []
    for owner, obj in trackables.items():
        for v in getattr(obj, "variables", ()) or ():
            value = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                bad.append(f"{owner}:{getattr(v, 'path', None) or v.name}")
    return bad


def _saved_names(prefix: str) -> Set[str]:
    """The top-level names (model, state, warmup, …) a checkpoint holds values under."""
    return {key.split("/", 1)[0] for key, _ in tf.train.list_variables(prefix)}


def _step_of(prefix: str) -> int:
    return int(prefix.rsplit("-", 1)[1])


def _set_aside_state_naming_nothing(directory: Path) -> None:
    """A state file that parses but names no checkpoint (an empty one, left by a crash after
    TF's unsynced write-and-rename) makes CheckpointManager itself raise, so no resume could
    start. The checkpoints are found by listing the folder anyway: the file goes to
    corrupt/, and restore_latest writes a new one."""
    state = Path(directory) / STATE_FILE
    if not state.is_file():
        return
    try:
        tf.train.get_checkpoint_state(str(directory))  # garbage: None, and a warning later
    except ValueError:
        corrupt = Path(directory) / CORRUPT_DIR
        corrupt.mkdir(exist_ok=True)
        target = free_name(corrupt / STATE_FILE)
        state.replace(target)
        log.warning("moved the checkpoint state file %s, which names no checkpoint, to %s; "
                    "the checkpoints are found by listing %s", state, target, directory)


def _warn_if_state_unreadable(directory: Path) -> None:
    state = Path(directory) / STATE_FILE
    if not state.exists():
        return
    try:
        ok = tf.train.get_checkpoint_state(str(directory)) is not None
    except Exception:  # noqa: BLE001 — any parse failure means the same thing here
        ok = False
    if not ok:
        log.warning("ignoring the unreadable checkpoint state file %s; the checkpoints were "
                    "found by listing %s", state, directory)
