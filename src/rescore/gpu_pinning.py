"""One GPU per job when Hydra's joblib launcher runs several trainings on one machine.

    python -m rescore -m experiment=table6 hydra/launcher=joblib hydra.launcher.n_jobs=4

joblib keeps n_jobs worker processes and gives each the next job as it frees up, so a
job's number does not say which GPU is idle, and a process cannot move to another GPU
once TensorFlow has initialised one. So each worker process claims a GPU for its whole
life: an exclusive lock file per GPU (released by the OS when the process ends, even on a
crash), tried from GPU (job number mod #GPUs) on. With n_jobs ≤ #GPUs every job gets a GPU
of its own; with more jobs than GPUs some share one (memory growth on, so both fit).
This must run before TensorFlow builds anything on a GPU (the app calls it first thing).
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable, IO, List, Optional, Sequence, Tuple

log = logging.getLogger(__name__)

LOCK_DIR = Path(tempfile.gettempdir()) / "rescore-gpu-locks"

_pinned: Optional[int] = None  # this process's GPU, once chosen
_held_lock: Optional[IO] = None  # kept open: closing it would free the GPU for others


def claim_slot(n_slots: int, first: int, lock_dir: Path = LOCK_DIR) -> Tuple[int, Optional[IO]]:
    """The first free slot from `first` on (wrapping), locked; (first, None) when all are
    taken, so the caller shares a slot rather than waiting."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    for offset in range(n_slots):
        slot = (first + offset) % n_slots
        handle = open(lock_dir / f"gpu{slot}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.write(str(os.getpid()))
        handle.flush()
        return slot, handle
    return first % n_slots, None


def pin_one_gpu(job_num: int, list_gpus: Optional[Callable[[], Sequence]] = None,
                set_visible: Optional[Callable[[List], None]] = None,
                lock_dir: Path = LOCK_DIR) -> Optional[int]:
    """Make one GPU visible to this process; the index chosen, or None with < 2 GPUs.
    `list_gpus`/`set_visible` default to tf.config (injectable for tests on CPU)."""
    global _pinned, _held_lock
    if _pinned is not None:
        return _pinned  # a reused joblib worker: TF is already on its GPU
    if list_gpus is None or set_visible is None:
        import tensorflow as tf

        list_gpus = list_gpus or (lambda: tf.config.list_physical_devices("GPU"))
        set_visible = set_visible or _tf_set_visible
    gpus = list(list_gpus())
    if len(gpus) < 2:
        return None
    slot, _held_lock = claim_slot(len(gpus), job_num, lock_dir)
    if _held_lock is None:
        log.warning("more joblib workers than GPUs: job %d shares GPU %d", job_num, slot)
    set_visible([gpus[slot]])
    _pinned = slot
    log.info("job %d (pid %d) runs on GPU %d of %d", job_num, os.getpid(), slot, len(gpus))
    return slot


def _tf_set_visible(gpus: List) -> None:
    import tensorflow as tf

    tf.config.set_visible_devices(gpus, "GPU")
    for gpu in gpus:  # a shared GPU must not be taken whole by the first process
        tf.config.experimental.set_memory_growth(gpu, True)


def launched_by_joblib(launcher_target: Optional[str]) -> bool:
    return bool(launcher_target) and "joblib" in launcher_target.lower()


def pin_if_joblib_job(strategy: str) -> Optional[int]:
    """The app's hook: only jobs of the joblib launcher that train on one device are pinned
    (a mirrored job wants every GPU; a single run or a SLURM job gets its GPUs from outside)."""
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    if strategy != "default" or not launched_by_joblib(hydra_cfg.launcher.get("_target_")):
        return None
    return pin_one_gpu(hydra_cfg.job.num)
