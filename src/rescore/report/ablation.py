"""The ablation table: one row per setting of some config keys (`--by unit.placement`, or
the keys that differ across the runs), statistics over its seeds, beside the paper.

Rows are grouped by (class, data set, setting): full, scaled, other and unfinished runs
(collect.Run.status) and different data sets are never pooled, and each (class, data
set) gets its own section, titled with both. A row's class is its runs' apart from the
grouped keys (Run.status_apart_from): `--by unit.placement` keeps bn_after_add beside
original in the full (or scaled) section, though bn_after_add alone is not the paper's
recipe (recipe.py); a departure in any other key still puts a run in "other", except
the model's own unit and shortcut (left unset in the config) of a run that builds a case
of He et al. 2016b (a pre-activation ResNet-164 with its own unit and B shortcuts), whose
class is taken apart from them (ablation_class). Grouping
on a schedule key (optim.schedule, max_steps, milestones: the paper's recipe against
experiment=modern) likewise sets aside each grouped schedule key, so the cosine rows stand
beside the paper's, classed by schedule_scale (unscaled: a section titled for its own
schedules); the paper's values stay beside the paper's schedule only. Per row:
- test error: mean, sample std (ddof=1), n and the 95 % Student-t interval of the mean
  (stats.py) of each run's final test error (unfinished runs: their last logged held-out
  error, labelled as not final);
- training error at the end: the mean over the row's runs of the last logged training
  error (metrics.jsonl: the running error of the last log window, augmented images,
  training mode, as Fig. 6's dashed curves);
- EMA test error, only when some row's runs kept an EMA of the weights (optim.ema.decay):
  each such run's ema_test_error, with the same statistics as the test error. A second
  model evaluated once at the end, as the raw weights are; neither is chosen on the test
  set, and the raw final-step error stays the primary column. Rows without EMA show "–";
  without any, the table is as it was before the EMA existed;
- the paper's value where it has one: Table 6 (He et al. 2016) for a CIFAR-10 run of a
  Table-6 model with option A trained on the paper's recipe (table6.compares_with_table6);
  He et al. 2016b Table 1 or 2 (paper.unit_paper_error) for a CIFAR-10 ResNet-110/164 unit
  trained on it apart from the unit.* settings and the shortcut option, and Table 3
  (paper.table3_preact_error) on the same terms for the full pre-activation ResNet-164/1001
  on CIFAR-10 or CIFAR-100, the paper's only CIFAR-100 numbers. Beside full-schedule rows
  it is the comparison; beside any other class it is shown but marked not comparable.
Runs of one row that differ in another key (one not grouped on) are pooled and the
report says which keys.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..config import UnitConfig
from .collect import SCHEDULE_KEYS, Run, data_set_name
from .paper import CITATION, FAIL, HE2016B_CITATION, PaperRow, UnitRow, paper_row, \
    table3_preact_error, unit_paper_error
from .settings import (Setting, config_settings, differing_keys, flatten, setting_of,
                       setting_order, setting_text, value_text)
from .stats import Summary, summarize
from .table6 import (SECTION_HEADINGS, STATUS_ORDER, compares_with_table6,
                     consecutive_sections, error_of)

UNIT_DEFAULTS = flatten(asdict(UnitConfig()))
TABLE3_SOURCE = "He 2016b Table 3"


@dataclass
class PaperValue:
    """One published error beside a row: where it is from and whether it compares."""
    source: str  # "Table 6" | "He 2016b Table 2, BN after addition" ...
    text: str  # as printed: "8.17", "6.43 (6.61±0.16)", "fail"
    value: Optional[float]  # % (Table 6: the best), None for "fail"


@dataclass
class AblationRow:
    status: str
    data_name: Optional[str]
    setting: Setting
    runs: List[Run]
    test: Summary  # % test error per run
    train: Summary  # % training error at the end, per run that logged one
    error_from: str
    pooled: List[str] = field(default_factory=list)  # other keys that vary inside the row
    table6: Optional[PaperValue] = None
    he2016b: Optional[PaperValue] = None
    # % error of each run's EMA weights (ema_error_of), one per run in `runs`; None: none
    ema_errors: List[Optional[float]] = field(default_factory=list)

    @property
    def seeds(self) -> List[int]:
        return [r.seed for r in self.runs]

    @property
    def ema_seeds(self) -> List[int]:
        return [r.seed for r, e in zip(self.runs, self.ema_errors) if e is not None]

    @property
    def ema(self) -> Summary:
        """The EMA test errors of the row's runs that have one."""
        return summarize([e for e in self.ema_errors if e is not None])

    @property
    def has_ema(self) -> bool:
        return any(e is not None for e in self.ema_errors)

    @property
    def comparable(self) -> bool:
        """Only the full schedule on CIFAR-10 compares with the paper's numbers."""
        return self.status == "full"

    @property
    def keys(self) -> List[str]:
        return [key for key, _ in self.setting]

    @property
    def recipes(self) -> List[str]:
        """What the runs were, apart from the grouped keys (the row's setting says those)."""
        return sorted({r.recipe_apart_from(self.keys) for r in self.runs})

    @property
    def iterations(self) -> str:
        return ",".join(sorted({str(r.steps) for r in self.runs}, key=int))


def build_ablation(runs: Sequence[Run], keys: Sequence[str]) -> List[AblationRow]:
    groups: Dict[tuple, List[Run]] = {}
    for run in runs:
        groups.setdefault((ablation_class(run, keys), run.data_name, setting_of(run, keys)),
                          []).append(run)
    rows = [_row(status, data, setting, members, keys)
            for (status, data, setting), members in groups.items()]
    return sorted(rows, key=lambda r: (STATUS_ORDER[r.status], r.data_name or "~",
                                       setting_order(r.setting)))


def ablation_class(run: Run, keys: Sequence[str]) -> str:
    """The run's class apart from the grouped keys and, where it builds a case of He et
    al. 2016b (he2016b_value) with the model's own unit and shortcut (the config left
    them unset), apart from those too: a pre-activation ResNet-164 with its own full
    pre-activation unit and B shortcuts is not the recipe of Table 6, but it is the
    recipe behind He 2016b's number for it, so that number compares. A unit or shortcut
    chosen in the config (resnet110 unit=bn_after_add, shortcut=B) stays a departure
    unless grouped, so it never shares a row with the model's own."""
    if he2016b_value(run) is not None:
        keys = [*keys, *models_own_architecture(run)]
    return run.status_apart_from(keys)


def models_own_architecture(run: Run) -> List[str]:
    """The run's departures in unit.placement and shortcut.option that the config left
    to the model (unset): the model's own unit or shortcut, not a choice of the run."""
    settings = config_settings(run.config or {})  # the schema's default for both: None
    return [key for key, _ in run.departures or ()
            if key in ("unit.placement", "shortcut.option") and settings.get(key) is None]


def _row(status: str, data_name: Optional[str], setting: Setting, members: List[Run],
         keys: Sequence[str]) -> AblationRow:
    members = sorted(members, key=lambda r: r.seed)
    scored = [(r, *error_of(r)) for r in members]
    scored = [(r, e, s) for r, e, s in scored if e is not None]
    trained = [100 * r.train_curve[-1][1] for r, _, _ in scored if r.train_curve]
    return AblationRow(
        status=status, data_name=data_name, setting=setting, runs=[r for r, _, _ in scored],
        test=summarize([e for _, e, _ in scored]), train=summarize(trained),
        error_from="; ".join(sorted({s for _, _, s in scored})) or "nothing evaluated yet",
        # what the row's statistics are of: the runs that have an error
        pooled=[k for k in differing_keys([r for r, _, _ in scored]) if k not in keys],
        table6=_same([table6_value(r) for r, _, _ in scored]),
        he2016b=_same([he2016b_value(r) for r, _, _ in scored]),
        ema_errors=[ema_error_of(r) for r, _, _ in scored])


def ema_error_of(run: Run) -> Optional[float]:
    """The run's EMA test error in %: result.json's ema_test_error; for a run without
    result.json, its last logged EMA held-out error (the evaluation error_of falls back
    to); None when the run kept no EMA."""
    if run.has_result:
        return None if run.ema_test_error is None else 100 * run.ema_test_error
    return 100 * run.ema_curve[-1][1] if run.ema_curve else None


def _same(values: List[Optional[PaperValue]]) -> Optional[PaperValue]:
    """The paper's value of a row only if all its runs are the same paper case."""
    return values[0] if values and all(v == values[0] for v in values) else None


def _unit(run: Run) -> Dict:
    return {**UNIT_DEFAULTS, **flatten((run.config or {}).get("unit") or {})}


def table6_value(run: Run) -> Optional[PaperValue]:
    """He et al. 2016, Table 6: CIFAR-10, option A, the paper's recipe with the original
    unit (the CIFAR v1 family's own: unit.placement unset or original, identity
    shortcuts), and the paper's schedule (before any schedule_scale), whatever the
    ablation's keys: a wd=5e-4 row or a cosine one has no Table-6 value."""
    row: Optional[PaperRow] = paper_row(run.model)
    if row is None or not compares_with_table6(run):
        return None
    return PaperValue("Table 6", row.error_text(), row.error)


def he2016b_value(run: Run) -> Optional[PaperValue]:
    """He et al. 2016b: Tables 1-2 for the CIFAR-10 ResNet-110/164 unit the run built, else
    Table 3 for a full pre-activation ResNet-164/1001 on CIFAR-10 or CIFAR-100; trained on
    the paper's recipe in everything but the unit (and the shortcut option, which neither
    lookup compares), on the paper's schedule (before any scale)."""
    unit = _unit(run)
    placement = run.placement or unit.get("placement")
    if not run.paper_schedule or placement is None or _departs_beyond_the_unit(run):
        return None
    found: Optional[Tuple[UnitRow, object]] = (
        unit_paper_error(run.model, placement, unit) if run.on_cifar10 else None)
    if found is None or found[1] is None:
        return _table3_value(run, placement, unit)
    row, error = found
    shown = error if error == FAIL else f"{error:.2f}"
    return PaperValue(f"He 2016b {row.table}, {row.case}" + (f" ({row.remark})"
                                                               if row.remark else ""),
                      shown, None if error == FAIL else float(error))


def _table3_value(run: Run, placement: str, unit: Dict) -> Optional[PaperValue]:
    option = (run.shortcut if run.shortcut is not None
              else config_settings(run.config or {}).get("shortcut.option"))
    error = table3_preact_error(run.data_name, run.model, placement, unit, option)
    if error is None:
        return None
    return PaperValue(f"{TABLE3_SOURCE}, pre-activation, {data_set_name(run.data_name)}",
                      f"{error:.2f}", error)


def _departs_beyond_the_unit(run: Run) -> bool:
    return run.departures is None or any(
        not key.startswith("unit.") and key != "shortcut.option" for key, _ in run.departures)


# ----------------------------------------------------------------- the files


def data_title(rows: Sequence[AblationRow]) -> str:
    names = sorted({data_set_name(r.data_name) for r in rows})
    return " and ".join(names) or "no runs"


# An ablation over the schedule (collect.SCHEDULE_KEYS) puts unscaled runs of other
# schedules in the full class beside the paper's: its title must not call them comparable
OWN_SCHEDULES_HEADING = ("Full length of each row's own schedule, comparable to the paper "
                         "only where a paper value stands")


def section_title(row: AblationRow) -> str:
    heading = SECTION_HEADINGS[row.status]
    if row.status == "full" and not SCHEDULE_KEYS.isdisjoint(row.keys):
        heading = OWN_SCHEDULES_HEADING
    return f"{heading} — {data_set_name(row.data_name)}"


def sections(rows: Sequence[AblationRow]) -> List[Tuple[str, List[AblationRow]]]:
    return consecutive_sections(rows, section_title)


def _pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.2f}"


def _interval(s: Summary) -> str:
    return "–" if s.interval is None else f"[{s.interval[0]:.2f}, {s.interval[1]:.2f}]"


def paper_text(row: AblationRow, value: Optional[PaperValue]) -> str:
    if value is None:
        return "–"
    return value.text if row.comparable else f"({value.text}: not comparable, {row.status})"


EMA_MD_COLUMNS = ["EMA test error per seed (%)", "EMA mean (%)", "EMA std",
                  "EMA 95 % CI (%)"]
EMA_NOTE = ("EMA columns: the test error of the exponential moving average of the weights "
            "(optim.ema.decay; result.json's ema_test_error, ema_decay the decay used), per "
            "seed in the seeds' order, with the same statistics. Like the test error it is "
            "of a model evaluated once, at the end of training: neither is chosen on the "
            "test set. The test error (the raw weights of the last step) stays the primary "
            "column; '–': the run kept no EMA.")


def _md_columns(keys: Sequence[str], ema: bool = False) -> List[str]:
    return [*keys, "n", "seeds", "test error mean (%)", "std", "95 % CI (%)",
            "train error at end (%)", *(EMA_MD_COLUMNS if ema else []), "paper: Table 6 (%)",
            "paper: He 2016b (%)", "iterations", "error from"]


def _md_cells(row: AblationRow, ema: bool = False) -> List[str]:
    he = paper_text(row, row.he2016b)
    if row.he2016b is not None:
        he += f" [{row.he2016b.source.removeprefix('He 2016b ')}]"
    return [*(value_text(v) for _, v in row.setting), str(row.test.n),
            ",".join(map(str, row.seeds)), _pct(row.test.mean), _pct(row.test.std),
            _interval(row.test), _pct(row.train.mean), *(_ema_cells(row) if ema else []),
            paper_text(row, row.table6), he, row.iterations, row.error_from]


def _ema_cells(row: AblationRow) -> List[str]:
    per_seed = ",".join(map(_pct, row.ema_errors)) if row.has_ema else "–"
    return [per_seed, _pct(row.ema.mean), _pct(row.ema.std), _interval(row.ema)]


def any_ema(rows: Sequence[AblationRow]) -> bool:
    """Whether the report gets the EMA columns: some row has an EMA error."""
    return any(r.has_ema for r in rows)


def paper_values_text(rows: Sequence[AblationRow]) -> str:
    """Which papers' values stand beside which runs; He 2016b's Table 3 (its only CIFAR-100
    numbers) is named only when a row has a value from it."""
    text = ("Paper values are CIFAR-10's, shown only beside CIFAR-10 runs: "
            f"{CITATION}; {HE2016B_CITATION} (median of 5 runs; 'fail': above 20 %), and "
            "only beside runs trained on the paper's recipe (apart from the unit, for He "
            "2016b).")
    if not any(r.he2016b and r.he2016b.source.startswith(TABLE3_SOURCE) for r in rows):
        return text
    return (text.replace("Paper values are CIFAR-10's", "Table 6's and He 2016b Tables "
                         "1-2's values are CIFAR-10's") +
            f" {TABLE3_SOURCE} gives the full pre-activation ResNet-164 and ResNet-1001 on "
            "CIFAR-10 and CIFAR-100, each beside runs of its own data set, on the same "
            "terms; its values are as the Wide ResNet authors' README quotes them, not yet "
            "checked against the paper (report/paper.py).")


def to_markdown(rows: Sequence[AblationRow], keys: Sequence[str]) -> str:
    lines = [f"# Ablation over {', '.join(keys)}: test error on {data_title(rows)}", "",
             "One row per setting; each section one class of runs on one data set (never "
             "pooled). Test error: each run's final error on its data set's test set; "
             "mean, sample std (ddof=1) and the 95 % confidence interval of the mean "
             "(Student's t, n−1 degrees of freedom; '–' with one run). Training error at "
             "the end: the mean over the row's runs of the last logged training error "
             f"(running error of the last log window). {paper_values_text(rows)} They "
             "compare only with full-schedule rows. A row's class is its runs' apart from "
             f"{', '.join(keys)}: a setting of those that is not the paper's does not move a "
             "row out of its schedule's section.", ""]
    ema = any_ema(rows)
    if ema:
        lines[-1:-1] = ["", EMA_NOTE]  # a paragraph of its own, before the blank line
    if not rows:
        lines += ["No runs found.", ""]
    for title, members in sections(rows):
        columns = _md_columns(keys, ema)
        lines += [f"## {title}", ""]
        recipes = sorted({recipe for r in members for recipe in r.recipes})
        lines += [f"Runs: {'; or '.join(recipes)}.", ""]
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_md_cells(r, ema)) + " |" for r in members]
        pooled = [r for r in members if r.pooled]
        if pooled:
            lines += ["", "Pooled: " + "; ".join(
                f"{setting_text(r.setting)} mixes runs that differ in {', '.join(r.pooled)}"
                for r in pooled) + " (add them to --by to keep them apart)."]
        lines.append("")
    return "\n".join(lines) + "\n"


FIXED_CSV_FIELDS = ["status", "data", "setting", "n", "seeds", "test_mean", "test_std",
                    "test_ci95_low", "test_ci95_high", "test_ci95_half", "train_mean",
                    "train_n", "paper_table6", "paper_he2016b", "paper_he2016b_case",
                    "paper_comparable", "iterations", "error_from", "pooled_keys", "recipe"]


EMA_CSV_FIELDS = ["ema_seeds", "ema_errors", "ema_n", "ema_mean", "ema_std", "ema_ci95_low",
                  "ema_ci95_high", "ema_ci95_half"]


def csv_fields(keys: Sequence[str], ema: bool = False) -> List[str]:
    """One column per grouped key (its dotted name), then the fixed ones; with `ema` the
    EMA's after train_n."""
    if not ema:
        return [*keys, *FIXED_CSV_FIELDS]
    after = FIXED_CSV_FIELDS.index("train_n") + 1
    return [*keys, *FIXED_CSV_FIELDS[:after], *EMA_CSV_FIELDS, *FIXED_CSV_FIELDS[after:]]


def _ema_csv(r: AblationRow) -> Dict[str, str]:
    """ema_errors: one per seed in ema_seeds (the row's runs that kept an EMA)."""
    low, high = r.ema.interval or (None, None)
    return {"ema_seeds": " ".join(map(str, r.ema_seeds)),
            "ema_errors": " ".join(_num(e) for e in r.ema.values), "ema_n": r.ema.n,
            "ema_mean": _num(r.ema.mean), "ema_std": _num(r.ema.std),
            "ema_ci95_low": _num(low), "ema_ci95_high": _num(high),
            "ema_ci95_half": _num(r.ema.half_width)}


def to_csv(rows: Sequence[AblationRow], keys: Sequence[str]) -> str:
    ema = any_ema(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_fields(keys, ema), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        low, high = r.test.interval or (None, None)
        writer.writerow({
            **{k: value_text(v) for k, v in r.setting},
            "status": r.status, "data": r.data_name or "", "setting": setting_text(r.setting),
            "n": r.test.n, "seeds": " ".join(map(str, r.seeds)),
            "test_mean": _num(r.test.mean), "test_std": _num(r.test.std),
            "test_ci95_low": _num(low), "test_ci95_high": _num(high),
            "test_ci95_half": _num(r.test.half_width), "train_mean": _num(r.train.mean),
            "train_n": r.train.n,
            "paper_table6": r.table6.text if r.table6 else "",
            "paper_he2016b": r.he2016b.text if r.he2016b else "",
            "paper_he2016b_case": r.he2016b.source if r.he2016b else "",
            "paper_comparable": str(r.comparable and bool(r.table6 or r.he2016b)).lower(),
            "iterations": r.iterations, "error_from": r.error_from,
            "pooled_keys": " ".join(r.pooled), "recipe": " | ".join(r.recipes),
            **(_ema_csv(r) if ema else {})})
    return buffer.getvalue()


def _num(value: Optional[float], digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_ablation(rows: Sequence[AblationRow], keys: Sequence[str], out_dir: Path) -> str:
    markdown = to_markdown(rows, keys)
    (out_dir / "ablation.md").write_text(markdown)
    (out_dir / "ablation.csv").write_text(to_csv(rows, keys))
    return markdown
