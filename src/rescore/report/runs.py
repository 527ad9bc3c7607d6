"""runs.csv: one line per run found, for the record (wall time, speed, where it lives)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import List

from .collect import Run
from .table6 import error_of, scale_text

FIELDS = ["model", "seed", "status", "schedule_scale", "steps", "max_steps", "error_pct",
          "error_from", "wall_time_s", "images_per_sec", "config_digest", "recipe", "path"]


def to_runs_csv(runs: List[Run]) -> str:
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
            "config_digest": run.config_digest, "recipe": run.recipe, "path": str(run.path)})
    return buffer.getvalue()


def write_runs(runs: List[Run], out_dir: Path) -> Path:
    path = out_dir / "runs.csv"
    path.write_text(to_runs_csv(runs))
    return path
