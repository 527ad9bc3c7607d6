"""Where and with what code each stretch of a run trained (issue 11 §3): segments.jsonl.

A full-schedule run takes hours and is done in stretches: the same command resumes it from
its newest checkpoint, maybe with newer code, maybe on another machine (a requeued SLURM
job). Every start and every resume appends one line to `<run_dir>/segments.jsonl` saying
when it started (UTC), from which iteration, the run's clock then, the rescore commit and
version, TensorFlow and Keras, the CPU, oneDNN and who chose it, the thread pools, the host
and the SLURM job. The file is a history: never cut back on resume (unlike metrics.jsonl,
whose records past the checkpoint run again), so a stretch whose work a kill -9 lost is
still there, followed by the one that redid it from an earlier iteration. A start that only
rewrites a torn result.json (it trains nothing) is a segment too: it computed the result.

result.json gets a summary (`segments_summary`), not the list: a run requeued every few
hours would fill it with dozens of records, and segments.jsonl is published beside it.

Nothing here changes what a run computes: it reads the environment and writes this file.
"""

from __future__ import annotations

import datetime
import json
import logging
import operator
import os
import socket
from pathlib import Path
from typing import Any, Dict, List, Optional

import keras
import tensorflow as tf

from .. import __version__, cpu
from ..code_version import code_commit
from ..errors import SaveError
from .rundir import SEGMENTS_NAME, slurm_incarnation

log = logging.getLogger(__name__)

# What result.json repeats of the first and the last segment: when and where the run
# started and ended, and with which code.
SUMMARY_FIELDS = ("started_utc", "start_iteration", "rescore_commit", "rescore_version",
                  "tensorflow", "cpu", "host")


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def segment_record(start_iteration: int, elapsed_s: float) -> Dict[str, Any]:
    """This process's record for a segment starting at `start_iteration`, the run having
    trained `elapsed_s` seconds of wall time before it (the checkpoint's clock)."""
    this_cpu = cpu.read_cpu()
    slurm = slurm_incarnation()
    return {
        "started_utc": utc_now(), "start_iteration": int(start_iteration),
        "elapsed_s": round(float(elapsed_s), 3),
        "rescore_commit": code_commit(), "rescore_version": __version__,
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "cpu": this_cpu.model, "cpu_family_model": this_cpu.family_model,
        "isa": cpu.isa_level(this_cpu.flags),
        "onednn": {"enabled": cpu.onednn_active(), "decided_by": cpu.current_choice().decided_by},
        "threads": thread_pools(),
        "host": socket.gethostname(),
        "slurm_job_id": slurm.get("slurm_job_id"),
        "slurm_restart_count": slurm.get("slurm_restart_count"),
    }


def thread_pools() -> Dict[str, int]:
    """The intra-/inter-op pool sizes TensorFlow runs with: what it was set to (0 when it was
    not), else its default (cpu.thread_counts)."""
    default = cpu.thread_counts(0, os.environ, cpu.usable_cores())
    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads()
                        or default.intra_op,
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads()
                        or default.inter_op}


def record_segment(run_dir: Path, start_iteration: int, elapsed_s: float) -> Dict[str, Any]:
    """Append this start's record to segments.jsonl and log it in one line. A file that
    cannot be written stops the run before it trains (exit 8), checkpoints untouched."""
    path = Path(run_dir) / SEGMENTS_NAME
    record = segment_record(start_iteration, elapsed_s)
    try:
        append_line(path, record)
    except OSError as err:
        raise SaveError(f"could not write {path}: {err}. Nothing was trained and the "
                        f"checkpoints are as they were; once it can be written, run the same "
                        f"command again") from err
    log.info("%s", segment_line(record, len(read_segments(run_dir))))
    return record


def append_line(path: Path, record: Dict[str, Any]) -> None:
    """One JSON line, on the disk when this returns. After a line torn by a kill, a new line
    starts: the torn one stays unreadable (and is skipped) instead of spoiling this one."""
    line = json.dumps(record) + "\n"
    if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        line = "\n" + line
    with open(path, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_segments(run_dir: Path) -> List[Dict[str, Any]]:
    """The records of segments.jsonl in order, without torn or foreign lines; [] for a run
    folder without one (a run finished before rescore wrote it)."""
    path = Path(run_dir) / SEGMENTS_NAME
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "start_iteration" in record:
            records.append(record)
    return records


def segments_summary(segments: List[Dict[str, Any]]) -> Dict[str, Any]:
    """result.json's `segments`: how many, the first and the last (SUMMARY_FIELDS), every
    distinct commit and CPU in the order they came, and when the result was computed.
    A run begun before rescore wrote segments.jsonl has a first segment past iteration 0."""
    def brief(record: Optional[Dict]) -> Optional[Dict]:
        return None if record is None else {k: record.get(k) for k in SUMMARY_FIELDS}

    return {"count": len(segments),
            "first": brief(segments[0] if segments else None),
            "last": brief(segments[-1] if segments else None),
            "rescore_commits": _distinct((s.get("rescore_commit") for s in segments),
                                         _same_commit),
            "cpus": _distinct(s.get("cpu") for s in segments),
            "result_utc": utc_now()}


def _distinct(values, same=operator.eq) -> List:
    """`values` without repeats, in the order they came; `same` says what is a repeat."""
    seen: List = []
    for value in values:
        if not any(same(value, other) for other in seen):
            seen.append(value)
    return seen


def _same_commit(a: Optional[str], b: Optional[str]) -> bool:
    """One commit written at two lengths is one (the first seen stays): a checkout names it
    as git abbreviates it (7+ hex digits), a `pip install .` copy as setuptools-scm does
    (9), a git install in full (40)."""
    if a is None or b is None:
        return a is b
    (a_hash, *a_dirty), (b_hash, *b_dirty) = a.split("+", 1), b.split("+", 1)
    return a_dirty == b_dirty and (a_hash.startswith(b_hash) or b_hash.startswith(a_hash))


def segment_line(record: Dict[str, Any], number: int) -> str:
    """The run log's line for a segment, saying what its record says."""
    onednn = cpu.onednn_word(record["onednn"]["enabled"])
    slurm = ("" if record["slurm_job_id"] is None else
             f"; SLURM job {record['slurm_job_id']} (restart {record['slurm_restart_count']})")
    return (f"segment {number} of this run ({SEGMENTS_NAME}), from iteration "
            f"{record['start_iteration']:,}: rescore {record['rescore_commit'] or 'commit unknown'}"
            f" ({record['rescore_version']}), TensorFlow {record['tensorflow']}, Keras "
            f"{record['keras']}; CPU {record['cpu']} ({record['isa']}), oneDNN {onednn} "
            f"({record['onednn']['decided_by']}), threads intra-op "
            f"{record['threads']['intra_op']}, inter-op {record['threads']['inter_op']}; host "
            f"{record['host']}{slurm}")
