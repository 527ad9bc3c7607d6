"""Find every run under some folders and read what it left: result.json and metrics.jsonl.

A run folder is one holding metrics.jsonl or result.json. A run still training (or killed)
has no result.json yet: its model, seed and schedule come from Hydra's saved
.hydra/config.yaml, and it is reported as unfinished, never beside finished runs.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from ..train.schedule import parse_scale, scaled_schedule  # TF-free

Curve = List[Tuple[int, float]]  # (iteration, error as a fraction)


@dataclass
class Run:
    path: Path
    model: str
    shortcut: str
    seed: int
    schedule_scale: float
    finished: bool  # result.json exists and says the schedule ran to its end
    steps: int  # iterations done (last logged one when there is no result.json)
    max_steps: Optional[int]
    config_digest: str
    test_error: Optional[float] = None  # fraction; only from result.json
    params: Optional[int] = None
    wall_time_s: Optional[float] = None
    images_per_sec: Optional[float] = None
    heldout_name: str = "test"  # which split the held-out curve is: test or val
    train_curve: Curve = field(default_factory=list)
    heldout_curve: Curve = field(default_factory=list)

    @property
    def has_result(self) -> bool:
        return self.test_error is not None

    @property
    def status(self) -> str:
        """full | scaled | unfinished: the three kinds of runs the report never mixes."""
        if not (self.has_result and self.finished):
            return "unfinished"
        return "full" if self.schedule_scale == 1 else "scaled"


def find_run_dirs(folders: Iterable[Path]) -> List[Path]:
    found = set()
    for folder in folders:
        for name in ("result.json", "metrics.jsonl"):
            found.update(p.parent.resolve() for p in Path(folder).rglob(name))
    return sorted(found)


def collect(folders: Iterable[Path]) -> List[Run]:
    runs = [read_run(d) for d in find_run_dirs(folders)]
    return without_copies([r for r in runs if r is not None])


def without_copies(runs: List[Run]) -> List[Run]:
    """One run per (model, config digest, seed): a copied run folder (an archive beside
    the original) would otherwise count as a second seed. The furthest copy is kept."""
    kept: Dict[tuple, Run] = {}
    for run in sorted(runs, key=lambda r: (not r.has_result, -r.steps, str(r.path))):
        key = (run.model, run.config_digest, run.seed)
        if key in kept:
            print(f"rescore-report: {run.path} repeats {kept[key].path}; counted once",
                  file=sys.stderr)
        else:
            kept[key] = run
    return sorted(kept.values(), key=lambda r: str(r.path))


def read_metrics(path: Path) -> List[Dict]:
    """metrics.jsonl, tolerating a half-written last line (a run killed mid-write)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def curves(records: List[Dict]) -> Tuple[Curve, Curve, str]:
    """Training and held-out error curves. A resumed run appends to metrics.jsonl and
    repeats the iterations after its last checkpoint: the later record of a step wins."""
    by_split: Dict[str, Dict[int, float]] = {}
    for r in records:
        if "error" in r and "step" in r and "split" in r:
            by_split.setdefault(r["split"], {})[int(r["step"])] = float(r["error"])
    heldout_name = "val" if "val" in by_split else "test"

    def sorted_curve(split: str) -> Curve:
        return sorted(by_split.get(split, {}).items())

    return sorted_curve("train"), sorted_curve(heldout_name), heldout_name


def read_run(run_dir: Path) -> Optional[Run]:
    records = read_metrics(run_dir / "metrics.jsonl")
    train, heldout, heldout_name = curves(records)
    result_file = run_dir / "result.json"
    if result_file.exists():
        run = _from_result(run_dir, json.loads(result_file.read_text()))
    else:
        run = _from_hydra_config(run_dir, records)
    if run is None:
        return None
    run.train_curve, run.heldout_curve, run.heldout_name = train, heldout, heldout_name
    return run


def _from_result(run_dir: Path, result: Dict) -> Run:
    return Run(path=run_dir, model=result["model"], shortcut=result.get("shortcut", "A"),
               seed=int(result["seed"]), schedule_scale=float(result["schedule_scale"]),
               finished=bool(result["finished"]), steps=int(result["steps"]),
               max_steps=int(result["max_steps"]),
               config_digest=result.get("config_digest", run_dir.parent.name),
               test_error=float(result["test_error"]), params=result.get("params"),
               wall_time_s=result.get("wall_time_s"),
               images_per_sec=result.get("images_per_sec"))


def _from_hydra_config(run_dir: Path, records: List[Dict]) -> Optional[Run]:
    """A run without result.json: its config from .hydra/config.yaml, or else its folder
    name (<model>/<digest>/seed=<n>) with an unknown schedule."""
    import yaml  # a Hydra dependency

    config_file = run_dir / ".hydra" / "config.yaml"
    steps = max((int(r["step"]) for r in records if "step" in r), default=0)
    seed_match = re.fullmatch(r"seed=(\d+)", run_dir.name)
    if config_file.exists():
        c = yaml.safe_load(config_file.read_text())
        o = c["optim"]
        scale = parse_scale(o.get("schedule_scale", 1))
        max_steps = scaled_schedule(o["max_steps"], [], 0, scale)[0]
        return Run(path=run_dir, model=c["model"]["name"],
                   shortcut=c.get("shortcut", {}).get("option", "A"), seed=int(c["seed"]),
                   schedule_scale=float(scale), finished=False, steps=steps,
                   max_steps=max_steps, config_digest=run_dir.parent.name)
    if seed_match is None:
        return None
    return Run(path=run_dir, model=run_dir.parent.parent.name, shortcut="?",
               seed=int(seed_match.group(1)), schedule_scale=float("nan"), finished=False,
               steps=steps, max_steps=None, config_digest=run_dir.parent.name)
