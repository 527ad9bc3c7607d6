"""Sweeps that survive their failures, and a summary of what each job did.

Under a Hydra multirun the app catches a job's error (after logging it) instead of
letting it end the sweep, and tells `report_job` how the job ended. The `SweepSummary`
callback (conf/config.yaml: hydra.callbacks) writes one record per job into
<sweep dir>/.sweep_jobs/<sweep id>/ as it ends — in the process that ran it, whatever the
launcher — and rewrites <sweep dir>/sweep_summary.json and sweep_summary.md from those
records after each job and at the end. `main()` then exits non-zero (SWEEP_FAILED_EXIT) if
any job of this sweep failed.

Several sweeps into one folder (the same `name`, e.g. `-m model=resnet20,resnet56` and
later `-m model=resnet110`) share the summary, as they share the folder: it lists every
sweep's jobs, merged by run folder — a run folder swept again shows only its latest job
(so re-running a sweep replaces its rows instead of repeating them), a new run folder adds
a row. Each sweep is a section of sweep_summary.md with its command-line overrides and the
keys it varied; the top names the keys varied across everything listed.

Statuses: finished | already_finished (result.json was there; nothing trained) |
diverged | failed (the error says why: invalid config, locked folder, a bug, …).
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from .locking import exclusive

log = logging.getLogger(__name__)

RECORDS = ".sweep_jobs"
SWEEPS = "sweeps"  # <sweep dir>/.sweep_jobs/sweeps/<sweep id>.json: when, which overrides
SUMMARY = "sweep_summary"
SWEEP_ID_ENV = "RESCORE_SWEEP_ID"  # set by the launching process, read by each job's
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
        # Earlier sweeps' records stay: the summary lists every sweep into this folder.
        # Job processes (joblib, submitit) inherit the environment and file their records
        # under this sweep's id.
        now = datetime.now()  # the id sorts sweeps by when they started
        sweep = {"sweep": f"{now.strftime('%Y%m%dT%H%M%S.%f')}-{os.getpid()}",
                 "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "overrides": list(config.hydra.overrides.task or [])}
        os.environ[SWEEP_ID_ENV] = sweep["sweep"]
        _write_json(_sweeps_dir(Path(config.hydra.sweep.dir)) / f"{sweep['sweep']}.json",
                    sweep)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        _job.clear()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        record = job_record(config, job_return, current_sweep(sweep_dir))
        _write_json(sweep_dir / RECORDS / record["sweep"] / f"job-{record['job']:05d}.json",
                    record)
        write_summary(sweep_dir)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global last_summary
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_id = current_sweep(sweep_dir)
        last_summary = [j for j in read_records(sweep_dir) if j["sweep"] == sweep_id]
        write_summary(sweep_dir)
        counts = {s: sum(j["status"] == s for j in last_summary)
                  for s in ("finished", "already_finished", "diverged", "failed")}
        log.info("sweep: %s; summary in %s", ", ".join(f"{n} {s}" for s, n in counts.items()),
                 sweep_dir / f"{SUMMARY}.md")


def _sweeps_dir(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / RECORDS / SWEEPS


def current_sweep(sweep_dir: Path) -> str:
    """This sweep's id: from the launching process's environment, else (a launcher that
    does not pass it on) the sweep last started into the folder."""
    started = sorted(p.stem for p in _sweeps_dir(sweep_dir).glob("*.json"))
    return os.environ.get(SWEEP_ID_ENV) or (started[-1] if started else "unknown")


def job_record(config: DictConfig, job_return: JobReturn, sweep_id: str) -> Dict[str, Any]:
    record: Dict[str, Any] = {
        "sweep": sweep_id,
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


def read_sweeps(sweep_dir: Path) -> List[Dict[str, Any]]:
    """Every sweep started into the folder, oldest first."""
    return [json.loads(p.read_text())
            for p in sorted(_sweeps_dir(sweep_dir).glob("*.json"))]


def read_records(sweep_dir: Path) -> List[Dict[str, Any]]:
    """Every job record of every sweep into the folder, by sweep (oldest first) and job;
    records written before sweeps had ids (.sweep_jobs/job-*.json) come first."""
    folder = Path(sweep_dir) / RECORDS
    if not folder.is_dir():
        return []
    records = [{"sweep": "", **json.loads(p.read_text())}
               for p in [*folder.glob("job-*.json"), *folder.glob("*/job-*.json")]]
    return sorted(records, key=lambda j: (j["sweep"], j["job"]))


def latest_per_run(jobs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One record per run folder, the latest; a job without a folder stays as it is."""
    kept: Dict[Any, Dict[str, Any]] = {}
    for j in jobs:  # oldest first: a later sweep's record replaces an earlier one
        key = j.get("run_dir") or (j["sweep"], j["job"])
        kept.pop(key, None)
        kept[key] = j
    return list(kept.values())


def varied(jobs: List[Dict[str, Any]]) -> Dict[str, List[str]]:
    """Override key → its values, for the keys whose value is not the same in every job
    (absent from some jobs counts as a value: "(unset)")."""
    values: Dict[str, List[str]] = {}
    parsed = [dict(_key_value(o) for o in j["overrides"]) for j in jobs]
    for key in sorted({k for p in parsed for k in p}):
        seen = [p.get(key, "(unset)") for p in parsed]
        distinct = list(dict.fromkeys(seen))
        if len(distinct) > 1:
            values[key] = distinct
    return values


def _key_value(override: str) -> tuple:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def write_summary(sweep_dir: Path) -> None:
    """Read every record and rewrite the summary under one lock: without it a job that
    read before another wrote could put back a summary lacking that job."""
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    with exclusive(Path(sweep_dir)):
        _write_summary_unlocked(sweep_dir)


def _write_summary_unlocked(sweep_dir: Path) -> None:
    sweeps = read_sweeps(sweep_dir)
    jobs = latest_per_run(read_records(sweep_dir))
    for sweep in sweeps:
        sweep["varied"] = varied([j for j in jobs if j["sweep"] == sweep["sweep"]])
    _write_json(Path(sweep_dir) / f"{SUMMARY}.json",
                {"written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "varied": varied(jobs),
                 "sweeps": sweeps, "jobs": jobs})
    _write_text(Path(sweep_dir) / f"{SUMMARY}.md", summary_markdown(sweep_dir, sweeps, jobs))


def varied_text(values: Dict[str, List[str]]) -> str:
    return "; ".join(f"{k} ({', '.join(v)})" for k, v in values.items()) or "nothing"


def summary_markdown(sweep_dir: Path, sweeps: List[Dict[str, Any]],
                     jobs: List[Dict[str, Any]]) -> str:
    lines = [f"# Sweeps into {sweep_dir}", "",
             f"Varied: {varied_text(varied(jobs))}.", "",
             f"Report: `python -m rescore.report {sweep_dir}` (an ablation table over the "
             "config keys that differ; `--by KEY` to choose them).", "",
             "Every sweep into this folder is listed; a run folder swept again shows only "
             "its latest job.", ""]
    known = {s["sweep"] for s in sweeps}
    sections = [(s["sweep"], f"Sweep {s['sweep']}: `{' '.join(s['overrides']) or '(none)'}`"
                 ) for s in sweeps]
    sections += [(sid, f"Sweep {sid or '(before sweep ids)'}")
                 for sid in dict.fromkeys(j["sweep"] for j in jobs) if sid not in known]
    for sweep_id, title in sections:
        members = [j for j in jobs if j["sweep"] == sweep_id]
        if not members:
            continue
        lines += [f"## {title}", "", f"Varied: {varied_text(varied(members))}.", ""]
        lines += job_table(members) + [""]
    return "\n".join(lines)


def job_table(jobs: List[Dict[str, Any]]) -> List[str]:
    lines = ["| job | overrides | status | test error | run folder / error |",
             "|---|---|---|---|---|"]
    for j in jobs:
        err = j.get("test_error")
        shown = "—" if err is None or math.isnan(err) else f"{100 * err:.2f}%"
        detail = (j.get("error") or j.get("run_dir") or "").replace("\n", " ").replace("|", "/")
        lines.append(f"| {j['job']} | {' '.join(j['overrides']) or '(none)'} | {j['status']} "
                     f"| {shown} | {detail} |")
    return lines


def _write_json(path: Path, data: Any) -> None:
    _write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def _write_text(path: Path, text: str) -> None:
    """Atomic (write, then rename): several job processes may rewrite the summary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # host and pid: jobs on several nodes may share the folder (submitit)
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


