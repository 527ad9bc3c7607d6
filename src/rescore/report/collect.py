"""Find every run under some folders and read what it left: result.json and metrics.jsonl.

A run folder is one holding metrics.jsonl or result.json. A run still training (or killed)
has no result.json yet: its model, seed and schedule come from Hydra's saved
.hydra/config.yaml, and it is reported as unfinished, never beside finished runs.

Each finished run is put in one class, reported apart from the others (`Run.status`):
full (the paper's 64,000 iterations with its milestones and its training recipe, on real
CIFAR-10: the only runs comparable to the paper), scaled (the same times schedule_scale,
on CIFAR-10) or other (synthetic data, an altered schedule, a recipe that is not the
paper's, or a config that does not say), each labelled with what it was (`Run.recipe`,
which names every departure from the paper's recipe: recipe.py).
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Collection, Dict, FrozenSet, Iterable, List, Optional, Tuple

from ..train.schedule import parse_scale, scaled_schedule  # TF-free
from .paper import ITERATIONS, MILESTONES
from .recipe import SWA_SETTINGS, Departure, departures as recipe_departures

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
    # optim.ema.decay's averaged weights (train/ema.py), evaluated once at the end beside
    # the raw ones: result.json's ema_test_error (fraction); None when the run kept no EMA
    ema_test_error: Optional[float] = None
    params: Optional[int] = None
    wall_time_s: Optional[float] = None
    images_per_sec: Optional[float] = None
    heldout_name: str = "test"  # which split the held-out curve is: test or val
    train_curve: Curve = field(default_factory=list)
    heldout_curve: Curve = field(default_factory=list)
    ema_curve: Curve = field(default_factory=list)  # the EMA's held-out curve ("<split>_ema")
    # From the run's config; None where it does not say (a result.json without config).
    data_name: Optional[str] = None  # cifar10 | cifar100 | synthetic
    train_images: Optional[int] = None  # the training split, after val_split
    val_split: Optional[int] = None
    base_max_steps: Optional[int] = None  # optim.max_steps before schedule_scale
    base_milestones: Optional[Tuple[int, ...]] = None  # optim.milestones before it
    lr_schedule: str = "step"  # optim.schedule: the paper's step drops, or cosine
    placement: Optional[str] = None  # the unit placement it was built with (result.json)
    config: Optional[Dict] = None  # the whole config as saved, for the ablation report
    # Provenance, from result.json: the final weights' hash (what `rescore eval` checks)
    # and, from its `segments` summary, every rescore commit and CPU the run trained with
    # in the order they came (empty for a run older than segments.jsonl).
    weights_sha256: Optional[str] = None
    commits: Tuple[str, ...] = ()
    cpus: Tuple[str, ...] = ()

    @property
    def has_result(self) -> bool:
        return self.test_error is not None

    @property
    def on_cifar10(self) -> bool:
        return self.data_name == "cifar10"

    @property
    def on_real_data(self) -> bool:
        """A real data set (CIFAR-10 or CIFAR-100), whose runs can be full or scaled."""
        return self.data_name in REAL_TRAIN_IMAGES

    @property
    def paper_schedule(self) -> bool:
        """The paper's iterations and milestones (step drops), before any schedule_scale."""
        return self.base_max_steps is not None and not self.schedule_departures

    @property
    def schedule_departures(self) -> FrozenSet[str]:
        """The SCHEDULE_KEYS in which the schedule, before any schedule_scale, is not the
        paper's (64,000 iterations, step drops at 32,000 and 48,000); the milestones count
        only for step drops, which are all that reads them."""
        departs = {"optim.schedule": self.lr_schedule != "step",
                   "optim.max_steps": self.base_max_steps != ITERATIONS,
                   "optim.milestones": self.lr_schedule == "step"
                   and tuple(self.base_milestones or ()) != MILESTONES}
        return frozenset(key for key, differs in departs.items() if differs)

    @cached_property
    def departures(self) -> Optional[Tuple[Departure, ...]]:
        """Where its training recipe is not the paper's (recipe.py), as (key, "key=value");
        empty: the paper's recipe; None: no saved config to tell."""
        if self.config is None:
            return None
        return recipe_departures(self.model, self.shortcut, self.placement, self.config)

    def departures_apart_from(self, keys: Collection[str] = ()) -> Tuple[Departure, ...]:
        """The departures outside `keys`; a key covers the settings that only exist with it
        (grouping by optim.swa.start also sets aside SWA's rate and interval)."""
        covered = set(keys) | {k for key in keys for k in DEPENDENT_KEYS.get(key, ())}
        return tuple(d for d in self.departures or () if d[0] not in covered)

    @property
    def status(self) -> str:
        """full | scaled | other | unfinished: the kinds of runs the report never mixes.

        full: the paper's 64,000 iterations and milestones and its training recipe
        (recipe.py) on real CIFAR-10 (or CIFAR-100), run to the end; scaled: the same with
        schedule_scale ≠ 1; other: anything else that finished (synthetic data, altered
        iterations or milestones, a cosine schedule, cutout, wd 5e-4, option B, another
        unit, bfloat16, …, unknown). The data set is a section of its own."""
        return self.status_apart_from(())

    def status_apart_from(self, keys: Collection[str]) -> str:
        """The class the run would have if the config keys `keys` were the paper's: an
        ablation over unit.placement keeps its placements in one class (ablation.py). The
        schedule's keys (SCHEDULE_KEYS) are set aside the same way, each only where it is
        grouped: the paper's recipe against experiment=modern (grouped on optim.schedule
        and optim.max_steps, as the keys that differ) stand in one section, full or scaled
        by schedule_scale, each trained to its own end; a cosine run in an ablation over
        optim.max_steps alone stays "other"."""
        if not (self.has_result and self.finished):
            return "unfinished"
        if not self.on_real_data or self.base_max_steps is None \
                or not self.schedule_departures <= set(keys) or self.departures_apart_from(keys):
            return "other"
        if self.schedule_scale == 1 and self.max_steps == self.base_max_steps:
            return "full"
        return "scaled" if self.schedule_scale != 1 else "other"

    @property
    def data_text(self) -> str:
        """Which data and how much of it was trained on."""
        name = data_set_name(self.data_name)
        if self.train_images is None:
            return name
        held = f", {self.val_split:,} held out for validation" if self.val_split else ""
        return f"{name}, trained on {self.train_images:,} images{held}"

    @property
    def schedule_text(self) -> str:
        """How long it trained, and how that differs from the paper's schedule."""
        if self.max_steps is None:
            return "schedule unknown"
        scaled = self.schedule_scale != 1 and not math.isnan(self.schedule_scale)
        scale = Fraction(self.schedule_scale).limit_denominator(1 << 20) if scaled else 1
        if self.lr_schedule == "cosine":
            return (f"{self.max_steps:,} iterations, cosine lr (schedule_scale={scale}; "
                    f"the paper: step drops at {_numbers(MILESTONES)})")
        if self.base_max_steps is None or self.paper_schedule:
            return f"{self.max_steps:,} iterations" + (f" (schedule_scale={scale})"
                                                       if scaled else "")
        own = (f"schedule_scale={scale} of {self.base_max_steps:,} iterations, lr drops at "
               f"{_numbers(self.base_milestones)}" if scaled
               else f"lr drops at {_numbers(self.base_milestones)}")
        return (f"{self.max_steps:,} iterations ({own}; the paper: {ITERATIONS:,}, drops at "
                f"{_numbers(MILESTONES)})")

    @property
    def recipe(self) -> str:
        """What the run was, for the report's section titles and runs.csv: data, schedule
        and every departure from the paper's training recipe."""
        return self.recipe_apart_from(())

    def recipe_apart_from(self, keys: Collection[str]) -> str:
        """The recipe without the departures in `keys` (an ablation's columns say them)."""
        differs = ", ".join(text for _, text in self.departures_apart_from(keys))
        return f"{self.data_text}; {self.schedule_text}" + (
            f"; not the paper's recipe: {differs}" if differs else "")


DEPENDENT_KEYS = {"optim.swa.start": SWA_SETTINGS}  # named only with the key's switch on
# The schedule's own keys (Run.paper_schedule compares them, not recipe.py's departures)
SCHEDULE_KEYS = frozenset({"optim.schedule", "optim.max_steps", "optim.milestones"})
REAL_TRAIN_IMAGES = {"cifar10": 50_000, "cifar100": 50_000}  # both training sets
DATA_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "synthetic": "synthetic data"}


def data_set_name(data_name: Optional[str]) -> str:
    """How titles name a run's data set (config data.name)."""
    if not data_name:
        return "data set unknown (no config)"
    return DATA_NAMES.get(data_name, f"data {data_name}")


def _numbers(values) -> str:
    return ", ".join(f"{v:,}" for v in values or ()) or "none"


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


def curves(records: List[Dict]) -> Tuple[Curve, Curve, Curve, str]:
    """Training, held-out and the EMA's held-out error curves (the last empty without
    optim.ema.decay). A resumed run appends to metrics.jsonl and repeats the iterations
    after its last checkpoint: the later record of a step wins."""
    by_split: Dict[str, Dict[int, float]] = {}
    for r in records:
        if "error" in r and "step" in r and "split" in r:
            by_split.setdefault(r["split"], {})[int(r["step"])] = float(r["error"])
    heldout_name = "val" if "val" in by_split else "test"

    def sorted_curve(split: str) -> Curve:
        return sorted(by_split.get(split, {}).items())

    return (sorted_curve("train"), sorted_curve(heldout_name),
            sorted_curve(heldout_name + "_ema"), heldout_name)


def read_run(run_dir: Path) -> Optional[Run]:
    records = read_metrics(run_dir / "metrics.jsonl")
    train, heldout, ema, heldout_name = curves(records)
    result_file = run_dir / "result.json"
    if result_file.exists():
        run = _from_result(run_dir, json.loads(result_file.read_text()))
    else:
        run = _from_hydra_config(run_dir, records)
    if run is None:
        return None
    run.train_curve, run.heldout_curve, run.heldout_name = train, heldout, heldout_name
    run.ema_curve = ema
    return run


def recipe_fields(config: Optional[Dict]) -> Dict:
    """Run fields saying what a run trained on and for how long, from its config (as
    result.json or .hydra/config.yaml hold it); empty when the config does not say."""
    data, optim = (config or {}).get("data") or {}, (config or {}).get("optim") or {}
    fields: Dict = {}
    if "name" in data:
        val_split = int(data.get("val_split", 0))
        # real training sets are 50,000 images; data=synthetic has synthetic_train
        total = REAL_TRAIN_IMAGES.get(data["name"], data.get("synthetic_train"))
        fields.update(data_name=data["name"], val_split=val_split,
                      train_images=None if total is None else int(total) - val_split)
    if "max_steps" in optim and "milestones" in optim:
        fields.update(lr_schedule=str(optim.get("schedule", "step")),
                      base_max_steps=int(optim["max_steps"]),
                      base_milestones=tuple(int(m) for m in optim["milestones"]))
    return fields


def _from_result(run_dir: Path, result: Dict) -> Run:
    return Run(path=run_dir, model=result["model"], shortcut=result.get("shortcut", "A"),
               seed=int(result["seed"]), schedule_scale=float(result["schedule_scale"]),
               finished=bool(result["finished"]), steps=int(result["steps"]),
               max_steps=int(result["max_steps"]),
               config_digest=result.get("config_digest", run_dir.parent.name),
               test_error=float(result["test_error"]), params=result.get("params"),
               ema_test_error=_fraction(result.get("ema_test_error")),
               wall_time_s=result.get("wall_time_s"),
               images_per_sec=result.get("images_per_sec"),
               placement=result.get("placement"), config=result.get("config") or None,
               weights_sha256=result.get("weights_sha256"),
               **provenance_fields(result.get("segments")),
               **recipe_fields(result.get("config")))


def provenance_fields(summary: Optional[Dict]) -> Dict:
    """Run.commits and Run.cpus from result.json's `segments` summary (train/provenance.py);
    an unknown commit (a folder install) is "unknown" rather than dropped, so a run that
    spans one is seen to."""
    summary = summary or {}
    return {"commits": tuple(c or "unknown" for c in summary.get("rescore_commits") or ()),
            "cpus": tuple(c or "unknown" for c in summary.get("cpus") or ())}


def _fraction(value) -> Optional[float]:
    return None if value is None else float(value)


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
                   max_steps=max_steps, config_digest=run_dir.parent.name, config=c,
                   **recipe_fields(c))
    if seed_match is None:
        return None
    return Run(path=run_dir, model=run_dir.parent.parent.name, shortcut="?",
               seed=int(seed_match.group(1)), schedule_scale=float("nan"), finished=False,
               steps=steps, max_steps=None, config_digest=run_dir.parent.name)
