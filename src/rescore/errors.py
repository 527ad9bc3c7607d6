"""Errors a user can act on, each with its own process exit status.

`python -m rescore` prints the message of these (no traceback) and exits with
`exit_code`, so a job script or a scheduler can tell a bad config from a diverged run
from a preempted one. Anything else is a bug and keeps its traceback (exit 1).

    0  finished, or already finished earlier (result.json reported again)
    1  unexpected error (a bug: traceback)
    2  invalid config: unknown key, wrong type, out-of-range value, unknown name
    3  diverged: non-finite loss, gradient or weights (nothing of it applied or saved)
    4  the run folder is locked by a live process
    5  checkpoints exist but none can be restored (never silently restarts)
    6  a multirun finished, but some of its jobs failed (see sweep_summary.md)
    7  the data set is missing, cannot be downloaded, or is corrupt (the message says where
       to put it)
    8  a checkpoint could not be written (disk full, quota, file-size limit); the message
       names the path, what the OS said and the newest good checkpoint. Also segments.jsonl
       at a start (train/provenance.py), before anything trains
    9  rescore eval: the weights are missing, do not fit the model, or are not the ones the
       run recorded (their sha256 differs from result.json's)
  143  stopped by SIGTERM/SIGUSR1/SIGUSR2 after saving a checkpoint (trainer.signal_exit_code)
"""

from __future__ import annotations


class RescoreError(Exception):
    exit_code = 1


class ConfigError(RescoreError, ValueError):
    """Also a ValueError: the config checks raised ValueError before this class existed."""

    exit_code = 2


class DivergedError(RescoreError, RuntimeError):
    """The loss, a gradient or the weights stopped being finite; nothing of it was applied
    or saved."""

    exit_code = 3


class RunLockedError(RescoreError):
    exit_code = 4


class CheckpointError(RescoreError):
    exit_code = 5


SWEEP_FAILED_EXIT = 6


class DataError(RescoreError, RuntimeError):
    """Data is missing or bad; the message says what was wrong and what to do. Also a
    RuntimeError: data/cifar10.py raised RuntimeError before this class joined these."""

    exit_code = 7


class SaveError(RescoreError, OSError):
    """A checkpoint (or a run's segments.jsonl) could not be written; what the save left is
    removed and the earlier checkpoints are intact."""

    exit_code = 8


class WeightsError(RescoreError):
    """Weights to evaluate that are missing, do not fit the model built for them, or differ
    from the ones a run recorded (rescore eval)."""

    exit_code = 9


class Preempted(RescoreError):
    """SIGTERM/SIGUSR1/SIGUSR2 arrived; the current iteration finished and a checkpoint was saved.

    The exit status is the run's `trainer.signal_exit_code` (143 = 128 + SIGTERM, what a
    requeueing job script expects), so it is set per instance."""

    def __init__(self, message: str, exit_code: int = 143):
        super().__init__(message)
        self.exit_code = exit_code
