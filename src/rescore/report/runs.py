"""runs.csv: one line per run found, for the record: wall time, speed, the weights' sha256
(what `rescore eval RUN_DIR` checks), the rescore commits and CPUs it trained with, and
where it lives (relative to the report's folder when it lies under it, so a committed
report does not carry the path of the machine that wrote it)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import List, Optional

from .collect import Run
from .table6 import error_of, scale_text

FIELDS = ["model", "seed", "status", "schedule_scale", "steps", "max_steps", "error_pct",
          "error_from", "wall_time_s", "images_per_sec", "config_digest", "recipe",
          "weights_sha256", "rescore_commits", "cpus", "path"]


def to_runs_csv(runs: List[Run], out_dir: Optional[Path] = None) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for run in sorted(runs, key=lambda r: (r.model, r.config_digest, r.seed)):
        error, source = error_of(run)
        writer.writerow({
            "model": run.model, "seed": run.seed, "status": run.status,
            "schedule_scale": scale_text(run.schedule_scale), "steps": run.steps,
            "max_steps": run.max_steps if run.max_steps else "",
            "error_pct": "" if error is None else f"{error:.2f}", "error_from": source,
            "wall_time_s": "" if run.wall_time_s is None else f"{run.wall_time_s:.0f}",
            "images_per_sec": "" if run.images_per_sec is None else f"{run.images_per_sec:.0f}",
            "config_digest": run.config_digest, "recipe": run.recipe,
            "weights_sha256": run.weights_sha256 or "",
            "rescore_commits": "; ".join(run.commits), "cpus": "; ".join(run.cpus),
            "path": shown_path(run.path, out_dir)})
    return buffer.getvalue()


def shown_path(run_path: Path, out_dir: Optional[Path]) -> str:
    """The run's folder relative to the report's when inside it, else as found."""
    if out_dir is not None:
        try:
            return str(Path(run_path).resolve().relative_to(Path(out_dir).resolve()))
        except ValueError:
            pass
    return str(run_path)


def write_runs(runs: List[Run], out_dir: Path) -> Path:
    path = out_dir / "runs.csv"
    path.write_text(to_runs_csv(runs, out_dir))
    return path
