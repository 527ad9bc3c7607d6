"""Table 6 beside the paper: one row per configuration, statistics over its seeds.

Runs are grouped by (status, what they were, schedule scale, model, shortcut, config
digest): seeds of one configuration share a digest, so a row never pools different
recipes. Each class (collect.Run.status: full, scaled, other, unfinished) and each recipe
within it gets its own section, titled with what it was; only the full schedule with the
paper's training recipe on real CIFAR-10 is called comparable to the paper, and the
paper's error stands only beside CIFAR-10 runs of a Table-6 net with option A trained on
the paper's recipe and schedule (`compares_with_table6`; a scaled schedule keeps it, marked
not comparable by its section).
std is the sample standard deviation (ddof=1, as for the paper's "mean±std" over 5 runs);
with one seed it is undefined and shown as "–".
"""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

from .collect import Run, data_set_name
from .paper import CITATION, ITERATIONS, OTHER_METHODS, SHORTCUT, TABLE6, PaperRow, paper_row

STATUS_ORDER = {"full": 0, "scaled": 1, "other": 2, "unfinished": 3}


@dataclass
class Row:
    status: str
    schedule_scale: float
    model: str
    method: str
    layers: Optional[int]
    params_m: Optional[float]
    paper: Optional[PaperRow]
    errors: List[float]  # % per seed, in seed order
    seeds: List[int]
    config_digest: str
    iterations: str  # "2000", or "1250/2000" for unfinished runs
    source: str  # where the error comes from: final test error, or the last logged one
    recipe: str = ""  # what the runs were: data, training images, schedule (Run.recipe)
    ema_runs: int = 0  # of its runs, those that kept an EMA of the weights (not shown here)
    data_set: str = ""  # as titles name it (collect.data_set_name)

    @property
    def n(self) -> int:
        return len(self.errors)

    @property
    def best(self) -> Optional[float]:
        return min(self.errors) if self.errors else None

    @property
    def mean(self) -> Optional[float]:
        return statistics.fmean(self.errors) if self.errors else None

    @property
    def std(self) -> Optional[float]:
        return statistics.stdev(self.errors) if self.n > 1 else None  # sample std, ddof=1


def scale_text(scale: float) -> str:
    if math.isnan(scale):
        return "?"
    fraction = Fraction(scale).limit_denominator(1 << 20)
    return str(fraction)


def layers_of(model: str) -> Optional[int]:
    row = paper_row(model)
    if row:
        return row.layers
    match = re.search(r"(\d+)$", model)
    return int(match.group(1)) if match else None


def method_of(model: str, shortcut: str) -> str:
    if re.fullmatch(r"plain\d+", model):
        return "plain"
    if re.fullmatch(r"resnet\d+", model):
        return "ResNet" if shortcut == "A" else f"ResNet (option {shortcut})"
    return model


def error_of(run: Run) -> Tuple[Optional[float], str]:
    """(error %, where it comes from). Unfinished runs without result.json fall back to
    their last logged held-out error, labelled as such."""
    if run.has_result:
        return 100 * run.test_error, "test (final)"
    if run.heldout_curve:
        step, error = run.heldout_curve[-1]
        return 100 * error, f"{run.heldout_name} at iteration {step} (not final)"
    return None, "nothing evaluated yet"


def group_key(run: Run) -> tuple:
    return (run.status, run.recipe, run.schedule_scale, run.model, run.shortcut,
            run.config_digest)


def build_rows(runs: List[Run]) -> List[Row]:
    groups: Dict[tuple, List[Run]] = {}
    for run in runs:
        groups.setdefault(group_key(run), []).append(run)
    # A run still training has no parameter count yet; a finished run of the same
    # configuration (same digest: same model, shortcut and builder args) has it.
    params = {(r.model, r.config_digest): r.params for r in runs if r.params}
    rows = [_row(members, params.get((members[0].model, members[0].config_digest)))
            for members in groups.values()]
    return sorted(rows, key=_row_order)


T = TypeVar("T")


def has_original_unit(run: Run) -> bool:
    """Did the run build the paper's own unit (He et al. 2016: placement original, identity
    shortcuts), the only one Table 6 and Fig. 6 speak of? A unit.* ablation did not. A
    run without a saved config built what its result.json says, else the original."""
    if run.departures is None:
        return (run.placement or "original") == "original"
    return not any(key.startswith("unit.") for key, _ in run.departures)


def compares_with_table6(run: Run) -> bool:
    """May Table 6's error stand beside the run? CIFAR-10, option A (Table 6 is option A's:
    "we use identity shortcuts in all cases", §4.2; ablation.table6_value asks the same),
    the paper's training recipe, unit included (recipe.py), and its schedule's shape: 64k
    iterations with step drops at 32k and 48k before any schedule_scale. How much of it
    ran is the section's business: a scaled run keeps the number, under a heading that
    says not comparable; a cosine or otherwise reshaped schedule has none."""
    return (run.on_cifar10 and built_with_option_a(run) and run.paper_schedule
            and run.departures is not None and not run.departures)


def built_with_option_a(run: Run) -> bool:
    """result.json records the shortcut built; a run still training (or an old result.json)
    has only its config, where `shortcut=default` is null: the model's own, which for Table
    6's nets is A (models/cifar.py)."""
    if run.shortcut is not None:
        return run.shortcut == SHORTCUT
    configured = ((run.config or {}).get("shortcut") or {}).get("option")
    return run.model in TABLE6 and configured in (None, SHORTCUT)


def _row(members: List[Run], params: Optional[int]) -> Row:
    members = sorted(members, key=lambda r: r.seed)
    first = members[0]
    scored = [(r, *error_of(r)) for r in members]
    scored = [(r, e, s) for r, e, s in scored if e is not None]
    return Row(status=first.status, schedule_scale=first.schedule_scale, model=first.model,
               method=method_of(first.model, first.shortcut), layers=layers_of(first.model),
               params_m=params / 1e6 if params else None,
               # the paper's numbers are CIFAR-10's, option A's and its recipe's: beside
               # other data, option B, a unit.* variant or cutout they mean nothing
               paper=paper_row(first.model) if compares_with_table6(first) else None,
               recipe=first.recipe, data_set=data_set_name(first.data_name),
               errors=[e for _, e, _ in scored], seeds=[r.seed for r, _, _ in scored],
               config_digest=first.config_digest, iterations=_iterations(members),
               ema_runs=sum(r.ema_test_error is not None for r, _, _ in scored),
               source="; ".join(sorted({s for _, _, s in scored})) or "nothing evaluated yet")


def _iterations(members: List[Run]) -> str:
    max_steps = members[0].max_steps
    if all(r.status != "unfinished" for r in members):
        return str(max_steps)
    done = ",".join(str(r.steps) for r in members)
    return f"{done}/{max_steps if max_steps else '?'}"


def _row_order(row: Row) -> tuple:
    family = 0 if row.method == "plain" else 1
    scale = -row.schedule_scale if not math.isnan(row.schedule_scale) else 0
    return (STATUS_ORDER[row.status], scale, row.recipe, family, row.layers or 0, row.model,
            row.config_digest)


SECTION_HEADINGS = {
    "full": "Full schedule, comparable to the paper",
    "scaled": "Scaled schedule, NOT comparable to the paper's numbers",
    "other": "Other runs (not the paper's data, schedule or training recipe), NOT "
             "comparable to the paper's numbers",
    "unfinished": "Unfinished runs (no final result, or stopped before max_steps; never "
                  "averaged with finished runs)",
}


def section_title(row: Row) -> str:
    """Whether the section's runs compare with the paper, and what they were."""
    heading = SECTION_HEADINGS[row.status]
    if row.status == "full" and not row.recipe.startswith("CIFAR-10,"):
        heading = "Full schedule (Table 6 is CIFAR-10's: no paper value here)"
    return f"{heading}: {row.recipe}"


def sections(rows: List[Row]) -> List[Tuple[str, List[Row]]]:
    return consecutive_sections(rows, section_title)


def consecutive_sections(rows: Sequence[T], title_of: Callable[[T], str]
                         ) -> List[Tuple[str, List[T]]]:
    """Sorted rows cut into (title, rows) wherever `title_of` changes (also the ablation's)."""
    out: List[Tuple[str, List[T]]] = []
    for row in rows:
        title = title_of(row)
        if not out or out[-1][0] != title:
            out.append((title, []))
        out[-1][1].append(row)
    return out


def _fmt(value: Optional[float], digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _mean_std(row: Row) -> str:
    if row.mean is None:
        return "–"
    return f"{row.mean:.2f}±{row.std:.2f}" if row.std is not None else f"{row.mean:.2f}±–"


COLUMNS = ["method", "#layers", "#params (M)", "paper #params (M)", "paper error (%)",
           "rescore best (%)", "rescore mean±std (%)", "n", "seeds", "schedule_scale",
           "iterations", "config", "error from"]


def _md_cells(row: Row) -> List[str]:
    return [row.method, str(row.layers or "–"), _fmt(row.params_m),
            _fmt(row.paper.params_m) if row.paper else "–",
            row.paper.error_text() if row.paper else "–",
            _fmt(row.best), _mean_std(row), str(row.n), ",".join(map(str, row.seeds)),
            scale_text(row.schedule_scale), row.iterations, row.config_digest, row.source]


def title_line(rows: List[Row]) -> str:
    """The H1; where any run is not on CIFAR-10 it names the data sets (Table 6 is
    CIFAR-10's), so a CIFAR-100 report never reads as a CIFAR-10 one."""
    data_sets = sorted({row.data_set for row in rows if row.data_set})
    if data_sets in ([], ["CIFAR-10"]):
        return "# Test error of rescore's runs beside He et al. 2016, Table 6"
    return (f"# Test error of rescore's runs on {' and '.join(data_sets)}, beside He et al. "
            f"2016, Table 6 (CIFAR-10 only)")


def to_markdown(rows: List[Row]) -> str:
    lines = [title_line(rows), "",
             f"Paper values: {CITATION}: CIFAR-10, {ITERATIONS:,} iterations, option A, the "
             "training recipe of its §4.2. Only a section \"Full schedule, comparable to the "
             "paper\" on CIFAR-10 (that schedule and that recipe) is comparable with them; "
             "every section says what its runs were trained on, for how long and where their "
             "recipe is not the paper's. Errors are the final test "
             "error of each run on its own data set's test set (nothing chosen on the test "
             "set); best = lowest over seeds; std = sample standard deviation (ddof=1), '–' "
             "with one seed.", ""]
    ema_runs = sum(r.ema_runs for r in rows)
    if ema_runs:
        lines += [ema_note(ema_runs), ""]
    if not rows:
        lines += ["No runs found.", ""]
    for title, members in sections(rows):
        lines += [f"## {title}", "", "| " + " | ".join(COLUMNS) + " |",
                  "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_md_cells(r)) + " |" for r in members]
        lines.append("")
    lines += ["## He et al. 2016, Table 6 as published (for reference)", "",
              "| method | #layers | #params (M) | paper error (%) |", "|---|---|---|---|"]
    lines += [f"| {p.method} | {p.layers} | {p.params_m:g} | {p.error_text()} |"
              for p in (*OTHER_METHODS, *TABLE6.values())]
    return "\n".join(lines) + "\n"


def ema_note(ema_runs: int) -> str:
    """Why the EMA's error is not in this table: the paper's recipe had no EMA."""
    return (f"{ema_runs} of these runs kept an EMA of the weights (optim.ema.decay): their "
            "errors here are of the raw weights at the last step, as every other run's. The "
            "EMA's test error (result.json's ema_test_error) is not put beside the paper's, "
            "whose recipe had no EMA; the ablation report shows it (ablation.md, e.g. "
            "--by optim.ema.decay).")


CSV_FIELDS = ["status", "schedule_scale", "method", "model", "layers", "params_m",
              "paper_params_m", "paper_error", "paper_mean", "paper_std", "best", "mean",
              "std", "n", "seeds", "iterations", "config_digest", "error_from", "recipe"]


def to_csv(rows: List[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        p = r.paper
        writer.writerow({
            "status": r.status, "schedule_scale": scale_text(r.schedule_scale),
            "method": r.method, "model": r.model, "layers": r.layers or "",
            "params_m": _num(r.params_m, 4), "paper_params_m": p.params_m if p else "",
            "paper_error": p.error if p else "", "paper_mean": p.mean if p and p.mean else "",
            "paper_std": p.std if p and p.std else "", "best": _num(r.best),
            "mean": _num(r.mean), "std": _num(r.std), "n": r.n,
            "seeds": " ".join(map(str, r.seeds)), "iterations": r.iterations,
            "config_digest": r.config_digest, "error_from": r.source, "recipe": r.recipe})
    return buffer.getvalue()


def _num(value: Optional[float], digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_table(rows: List[Row], out_dir: Path) -> str:
    markdown = to_markdown(rows)
    (out_dir / "table6.md").write_text(markdown)
    (out_dir / "table6.csv").write_text(to_csv(rows))
    return markdown
