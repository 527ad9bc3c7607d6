"""Checkpoints: model, optimizer state, iteration, warm-up end and elapsed time.

The data position is a function of (seed, iteration), so no iterator is saved; the
optimizer's momentum buffers exist before any restore (optimizer.py), so a restore can be
checked for having consumed everything it saved.

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
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from ..errors import CheckpointError, DivergedError, SaveError
from .rundir import CHECKPOINT_PREFIX as PREFIX
from .rundir import checkpoints_on_disk, next_restart

log = logging.getLogger(__name__)

STATE_FILE = "checkpoint"  # tf.train.CheckpointManager's text-proto list
CORRUPT_DIR = "corrupt"


class RunState(tf.Module):
    """Everything besides the model and optimizer that a resumed run must continue from."""

    def __init__(self, warmup_end: int):
        super().__init__(name="run_state")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.warmup_end = tf.Variable(warmup_end, dtype=tf.int64, trainable=False,
                                      name="warmup_end")
        self.elapsed = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="elapsed_s")
        self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                         name="train_seconds")


class Checkpoints:
    def __init__(self, directory: Path, keep: int, **trackables):
        self.directory = Path(directory)
        self.keep = keep
        self.trackables = trackables
        self.checkpoint = tf.train.Checkpoint(**trackables)
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
            self.checkpoint.restore(prefix).assert_consumed()
        except Exception as err:  # noqa: BLE001 — truncation surfaces as IndexError, too
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            return f"{type(err).__name__}: {first[:300]}"
        return None

    def _forget(self, failures: Dict[str, str], kept: List[str]) -> None:
        """Move the bad checkpoints aside (kept for inspection, never reused) and rewrite
        the state file to list the good ones, so the manager numbers and prunes from them."""
        corrupt = self.directory / CORRUPT_DIR
        for prefix in failures:
            for path in self.directory.glob(Path(prefix).name + ".*"):
                corrupt.mkdir(exist_ok=True)
                path.replace(corrupt / path.name)
                log.warning("moved the unusable checkpoint file %s to %s", path, corrupt)
        oldest_first = sorted(kept, key=_step_of)
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


def _step_of(prefix: str) -> int:
    return int(prefix.rsplit("-", 1)[1])


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
