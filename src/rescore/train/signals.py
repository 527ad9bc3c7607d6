"""Preemption: SIGTERM, SIGUSR1 (SLURM's advance warning) and SIGUSR2 (submitit's time-limit
signal) stop a run cleanly.

The handler only sets a flag: the signal may arrive in the middle of a compiled step,
and the loop (loop.py) looks at the flag once the current iteration — or the current
chunk of iterations, with trainer.steps_per_call > 1 — is complete, saves a checkpoint
there and raises `Preempted`. Nothing is lost and nothing runs twice on resume.

A handler that was installed before ours (submitit's, which requeues the SLURM job and
exits) is not lost: once the checkpoint is saved the loop calls `pass_on()`, which hands
the signal to it. So a time-limit requeue resumes from the iteration where the signal
came, not from the last periodic checkpoint.

Testing aid, not a user feature: the environment variable RESCORE_TESTING_SIGNAL_AT
("N" or "N:SIGUSR1") makes the process send itself the signal after iteration N, so a
test can stop a run at a fixed iteration through the real signal path.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Callable, Dict, Optional

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
TESTING_ENV = "RESCORE_TESTING_SIGNAL_AT"


class StopRequest:
    """`with StopRequest() as stop:` installs the handlers, restores the old ones on exit."""

    def __init__(self):
        self._signum: Optional[int] = None
        self._previous: Dict[int, object] = {}
        self._chunk_end = 0
        self._testing = _testing_hook()

    @property
    def requested(self) -> bool:
        return self._signum is not None

    @property
    def signal_name(self) -> Optional[str]:
        return signal.Signals(self._signum).name if self._signum is not None else None

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is not threading.main_thread():
            # Python delivers signals to the main thread only; a run started from another
            # thread (a notebook, a launcher) keeps the default handlers.
            log.warning("not in the main thread: SIGTERM/SIGUSR1/SIGUSR2 will not checkpoint")
            return self
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        # Only set the flag: logging or saving here could interrupt the same code.
        self._signum = signum

    def pass_on(self) -> None:
        """After the checkpoint: give the signal to the Python handler it would have reached
        without us (submitit's requeue-and-exit). SIG_DFL/SIG_IGN are left alone: the loop's
        `Preempted` and exit status already do what the default would."""
        previous = self._previous.get(self._signum)
        if callable(previous):
            log.info("passing %s on to %s", self.signal_name,
                     getattr(previous, "__qualname__", previous))
            previous(self._signum, None)

    def track_chunks(self, chunk_length: Callable[[int], int], stop: int
                     ) -> Callable[[int], int]:
        """Wraps the loop's `chunk_length` to remember where the running chunk ends:
        the model is a consistent state (the one a checkpoint may hold) only there."""

        def length(step: int) -> int:
            n = chunk_length(step)
            self._chunk_end = min(stop, step + max(1, n))
            return n

        return length

    def should_stop(self, done: int) -> bool:
        """After iteration `done`-1 has been handled: stop now?"""
        if self._testing and done == self._testing[0]:
            os.kill(os.getpid(), self._testing[1])
        return self.requested and done >= self._chunk_end


def _testing_hook():
    value = os.environ.get(TESTING_ENV)
    if not value:
        return None
    at, _, name = value.partition(":")
    return int(at), getattr(signal, name or "SIGTERM")
