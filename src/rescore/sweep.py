"""Sweeps that survive their failures, and a summary of what each job did.

Under a Hydra multirun the app catches a job's error (after logging it) instead of
letting it end the sweep, and tells `report_job` how the job ended. The `SweepSummary`
callback (conf/config.yaml: hydra.callbacks) writes one record per job into
<sweep dir>/.sweep_jobs/ as it ends — in the process that ran it, whatever the launcher —
and rewrites <sweep dir>/sweep_summary.json and sweep_summary.md from those records after
each job and at the end. `main()` then exits non-zero (SWEEP_FAILED_EXIT) if any failed.

Statuses: finished | already_finished (result.json was there; nothing trained) |
diverged | failed (the error says why: invalid config, locked folder, a bug, …).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

log = logging.getLogger(__name__)

RECORDS = ".sweep_jobs"
SUMMARY = "sweep_summary"
FAILED_STATUSES = ("failed", "diverged")

_job: Dict[str, Any] = {}  # how the job running in this process ended (report_job)
last_summary: Optional[List[Dict[str, Any]]] = None  # set at the end of a multirun


def report_job(status: str, **info: Any) -> None:
    """Called by the app once per job; read by the callback in the same process."""
    _job.clear()
    _job.update(status=status, **info)


def failed_jobs(summary: Optional[List[Dict[str, Any]]]) -> List[Dict[str, Any]]:
    return [j for j in summary or [] if j["status"] in FAILED_STATUSES]


class SweepSummary(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global last_summary
        last_summary = None
        # This sweep's records only: an earlier sweep into the same folder is summarised
        # in its own (overwritten) summary, its run folders stay.
        shutil.rmtree(Path(config.hydra.sweep.dir) / RECORDS, ignore_errors=True)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        _job.clear()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        record = job_record(config, job_return)
        _write_json(sweep_dir / RECORDS / f"job-{record['job']:05d}.json", record)
        write_summary(sweep_dir, read_records(sweep_dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global last_summary
        sweep_dir = Path(config.hydra.sweep.dir)
        last_summary = read_records(sweep_dir)
        write_summary(sweep_dir, last_summary)
        counts = {s: sum(j["status"] == s for j in last_summary)
                  for s in ("finished", "already_finished", "diverged", "failed")}
        log.info("sweep: %s; summary in %s", ", ".join(f"{n} {s}" for s, n in counts.items()),
                 sweep_dir / f"{SUMMARY}.md")


def job_record(config: DictConfig, job_return: JobReturn) -> Dict[str, Any]:
    record: Dict[str, Any] = {
        "job": int(config.hydra.job.num),
        "overrides": list(job_return.overrides or []),
        "run_dir": str(config.hydra.runtime.output_dir),
    }
    if job_return.status == JobStatus.FAILED:  # an error the app did not catch
        err = job_return._return_value
        record.update(status="failed", error=f"{type(err).__name__}: {err}")
    else:
        record.update(_job or {"status": "finished"})
    record.setdefault("test_error", None)
    record.setdefault("error", None)
    return record


def read_records(sweep_dir: Path) -> List[Dict[str, Any]]:
    folder = Path(sweep_dir) / RECORDS
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("job-*.json"))]


def write_summary(sweep_dir: Path, jobs: List[Dict[str, Any]]) -> None:
    _write_json(Path(sweep_dir) / f"{SUMMARY}.json",
                {"written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "jobs": jobs})
    _write_text(Path(sweep_dir) / f"{SUMMARY}.md", summary_markdown(jobs))


def summary_markdown(jobs: List[Dict[str, Any]]) -> str:
    lines = ["| job | overrides | status | test error | run folder / error |",
             "|---|---|---|---|---|"]
    for j in jobs:
        err = j.get("test_error")
        shown = "—" if err is None or math.isnan(err) else f"{100 * err:.2f}%"
        detail = (j.get("error") or j.get("run_dir") or "").replace("\n", " ").replace("|", "/")
        lines.append(f"| {j['job']} | {' '.join(j['overrides']) or '(none)'} | {j['status']} "
                     f"| {shown} | {detail} |")
    return "\n".join(lines) + "\n"


def _write_json(path: Path, data: Any) -> None:
    _write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def _write_text(path: Path, text: str) -> None:
    """Atomic (write, then rename): several job processes may rewrite the summary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


