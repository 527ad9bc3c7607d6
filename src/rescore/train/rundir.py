"""The run folder: one process at a time, a finished run is not trained again, and an
explicit restart (trainer.restart=k) goes to its own sibling folder, found again by the same
command.

The folder itself is a function of the config and seed (conf/config.yaml), so the same
command finds it again. A lock file records who trains in it (pid, host, boot and process
start time); a lock whose process is gone — killed with -9, a crashed node rebooted — is
stale and taken over, one whose process lives makes the newcomer refuse.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import CheckpointError, RunLockedError
from ..locking import exclusive

log = logging.getLogger(__name__)

LOCK_NAME = "run.lock"
RESULT_NAME = "result.json"
SEGMENTS_NAME = "segments.jsonl"  # who trained each stretch, where: train/provenance.py
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "ckpt"
# A checkpoint is its index and data files. Anything else in the folder — the `_temp`
# folder of a save that failed or was killed, `corrupt/` — is not one, in every mode.
_CHECKPOINT_FILE = re.compile(rf"^{CHECKPOINT_PREFIX}-(\d+)\.(index|data-\d+-of-\d+)$")


def finished_result(run_dir: Path) -> Optional[Dict]:
    """The saved result of a finished run, or None. An unreadable one (the process died
    while writing it) counts as unfinished: the run resumes from its final checkpoint,
    trains nothing more and writes the result again."""
    path = Path(run_dir) / RESULT_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        log.warning("%s is unreadable; recomputing it from the last checkpoint", path)
        return None


def has_checkpoints(run_dir: Path) -> bool:
    return bool(checkpoints_on_disk(Path(run_dir) / CHECKPOINT_DIR))


def checkpoints_on_disk(directory: Path) -> List[str]:
    """Every checkpoint prefix with any file in `directory`, newest first."""
    if not Path(directory).is_dir():
        return []
    steps = {int(m.group(1)) for p in Path(directory).iterdir()
             if (m := _CHECKPOINT_FILE.match(p.name))}
    return [str(Path(directory) / f"{CHECKPOINT_PREFIX}-{s}") for s in sorted(steps, reverse=True)]


def restart_number(restart: Any) -> Optional[int]:
    """trainer.restart as a folder number: false → 0 (the run's own folder), true → 1,
    k → k; None for anything else (config.check_config names it)."""
    if isinstance(restart, bool):
        return int(restart)
    if isinstance(restart, int) and restart >= 0:
        return restart
    return None


def choose_run_dir(run_dir: Path, restart: Any, resume: str) -> Path:
    """Where this invocation trains: the folder itself, or with trainer.restart=k (true is
    1) its sibling `seed=<n>.restart<k>`.

    The folder is a function of (config, seed, restart), like the run folder itself: the
    command that started a restart, typed again or requeued, finds the same folder and
    resumes it (or reports it, once finished); `restart=k+1` starts over once more. The
    run it restarts stays untouched. resume=never refuses a folder that already holds
    checkpoints or a result (for a job that must start from scratch)."""
    k = restart_number(restart)
    original = restarted_run_dir(Path(run_dir), k)
    target = original if not k else restart_dir(original, k)
    holds_a_run = has_checkpoints(target) or (target / RESULT_NAME).exists()
    if resume == "never" and holds_a_run:
        raise CheckpointError(
            f"{target} already holds a run and trainer.resume=never; continue it with "
            f"trainer.resume=auto or start over in a new folder with "
            f"trainer.restart={next_restart(original)}")
    return target


def restarted_run_dir(run_dir: Path, k: Optional[int]) -> Path:
    """The run folder a restart k starts over from. Under Hydra `run_dir` already is the
    restart's own (conf/config.yaml names it so, for its .hydra/ and log); called with the
    run's folder (tests, the bench) it is that folder."""
    suffix = f".restart{k}"
    if k and run_dir.name.endswith(suffix):
        return run_dir.with_name(run_dir.name[:-len(suffix)])
    return run_dir


def restart_dir(run_dir: Path, k: int) -> Path:
    """`seed=0` → `seed=0.restart<k>`, made on first use. Hydra writes its record of the
    config (.hydra/) there; called outside Hydra, the run's own record is copied, so the
    folder explains itself either way."""
    target = restart_dir_path(run_dir, k)
    if not (has_checkpoints(target) or (target / RESULT_NAME).exists()):
        target.mkdir(parents=True, exist_ok=True)
        if (run_dir / ".hydra").is_dir() and not (target / ".hydra").is_dir():
            shutil.copytree(run_dir / ".hydra", target / ".hydra")
        log.info("trainer.restart=%d: starting over in %s; the same command resumes it, "
                 "trainer.restart=%d would start over once more", k, target, k + 1)
    return target


def next_restart(run_dir: Path) -> int:
    """The smallest k whose restart folder does not exist yet: what to type to start over.
    `run_dir` may itself be a restart folder (`seed=0.restart2` → looks beside `seed=0`)."""
    base = run_dir.with_name(run_dir.name.split(".restart")[0])
    k = 1
    while restart_dir_path(base, k).exists():
        k += 1
    return k


def restart_dir_path(run_dir: Path, k: int) -> Path:
    return run_dir.with_name(f"{run_dir.name}.restart{k}")


class RunLock:
    """`with RunLock(run_dir):` — exclusive use of a run folder by this process."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self._guard = Path(run_dir) / (LOCK_NAME + ".guard")
        self._mine: Optional[Dict] = None

    def __enter__(self) -> "RunLock":
        with exclusive(self._guard):  # the check-then-write below is atomic among processes
            holder = _read(self.path)
            if holder is not None:
                if not is_stale(holder):
                    raise RunLockedError(locked_message(self.path, holder))
                log.warning("taking over the stale lock %s of pid %s on %s (that process "
                            "is gone)", self.path, holder.get("pid"), holder.get("host"))
            self._mine = this_process()
            _write_atomic(self.path, self._mine)
        return self

    def __exit__(self, *exc) -> None:
        with exclusive(self._guard):
            if _read(self.path) == self._mine:
                self.path.unlink()


def this_process() -> Dict:
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "boot_id": _boot_id(),
            "start_ticks": _start_ticks(pid), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **slurm_incarnation()}


def is_stale(holder: Dict) -> bool:
    """Dead for sure: an earlier incarnation of this same SLURM job, or same host and the
    pid is gone, the machine rebooted since, or the pid now belongs to a younger process.
    Any other lock from another host is never judged."""
    if not holder:
        return True  # unreadable: nobody can be identified as its owner
    if _earlier_incarnation_of_this_job(holder):
        return True
    if holder.get("host") != socket.gethostname():
        return False
    boot = _boot_id()
    if boot and holder.get("boot_id") and holder["boot_id"] != boot:
        return True
    pid = int(holder.get("pid", -1))
    if pid <= 0 or not _alive(pid):
        return True
    start = holder.get("start_ticks")
    return start is not None and _start_ticks(pid) not in (None, start)


def slurm_incarnation() -> Dict:
    """SLURM keeps SLURM_JOB_ID across a requeue and counts up SLURM_RESTART_COUNT."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return {}
    return {"slurm_job_id": job,
            "slurm_restart_count": int(os.environ.get("SLURM_RESTART_COUNT") or 0)}


def _earlier_incarnation_of_this_job(holder: Dict) -> bool:
    """A requeued job may land on another node while the killed incarnation's lock is still
    there (SIGKILL after the grace time leaves it). SLURM starts a requeued job only after
    the previous incarnation has ended, so such a holder is dead even though its host
    cannot be asked."""
    mine = slurm_incarnation()
    return (bool(mine) and holder.get("slurm_job_id") == mine["slurm_job_id"]
            and int(holder.get("slurm_restart_count", 0)) < mine["slurm_restart_count"])


def locked_message(path: Path, holder: Dict) -> str:
    where = holder.get("host")
    hint = ("" if where == socket.gethostname() else
            f" It was taken on another host ({where}); if no job there uses this folder "
            f"any more, delete {path}.")
    return (f"run folder {path.parent} is in use by pid {holder.get('pid')} on {where} "
            f"(since {holder.get('since')}); not starting a second process on it.{hint}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _boot_id() -> Optional[str]:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> Optional[int]:
    """Process start time (clock ticks since boot, /proc/<pid>/stat field 22): tells a
    reused pid from the process that wrote the lock. None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _read(path: Path) -> Optional[Dict]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # garbage (locks are written atomically, so not a live writer's)


def _write_atomic(path: Path, data: Dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data) + "\n")
    os.replace(tmp, path)
