"""`python -m rescore.report FOLDER [FOLDER ...] [--by KEY[,KEY]] [--out DIR]` and
`rescore-report`: read every run found under the folders, write table6.md/.csv, runs.csv
(one line per run: status, wall time, speed) and fig6.png into the first folder (or --out),
print the table. Where the runs differ in some config keys (or --by names them), also the
ablation over those keys: ablation.md/.csv, ablation_means.png, ablation_curves.png; where
they differ in none but build a case of He et al. 2016b outside Table 6, the ablation by
model.name, which sets that paper's value beside them."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import List, Optional

from .collect import collect, data_set_name
from .runs import write_runs
from .settings import UnknownKeyError
from .table6 import build_rows, write_table


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rescore-report", description=__doc__)
    parser.add_argument("folders", nargs="+", type=Path,
                        help="sweep or run folders, searched recursively for runs")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the report (default: the first folder)")
    parser.add_argument("--by", default=None, metavar="KEY[,KEY]",
                        help="dotted config keys to group the ablation table by, e.g. "
                             "unit.placement or model.name,optim.lr (default: the result-"
                             "defining keys that differ across the runs)")
    parser.add_argument("--fig7", action="store_true",
                        help="also fig7.png: std of layer responses from each model's latest "
                             "checkpoint (loads TensorFlow and the runs' data)")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    found = [f for f in args.folders if f.is_dir()]
    missing = [str(f) for f in args.folders if not f.is_dir()]
    if missing:  # a sweep not started yet: say so, report the others
        print(f"rescore-report: not a folder, skipped: {', '.join(missing)}", file=sys.stderr)
    if not found:
        return 2
    runs = collect(found)
    try:
        keys = ablation_keys(args.by, runs)
    except UnknownKeyError as err:  # before anything is written
        print(f"rescore-report: {err}", file=sys.stderr)
        return 2
    out_dir = args.out or found[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    print(write_table(build_rows(runs), out_dir))
    runs_file = write_runs(runs, out_dir)
    from .figures import plot_fig6  # matplotlib only when there is something to draw

    figure = plot_fig6(runs, out_dir / "fig6.png")
    if args.fig7:
        written = fig7(runs, out_dir)
        print(f"wrote {written}" if written else "no checkpoints found: no fig7.png")
    print(f"{len(runs)} run(s) ({class_counts(runs)}); wrote {out_dir / 'table6.md'}, "
          f"{out_dir / 'table6.csv'}, "
          f"{runs_file}" + (f", {figure}" if figure else " (no curves: no fig6.png)"))
    if keys:
        print(ablation(runs, keys, out_dir))
    elif runs:
        print("no result-defining config key differs across these runs: no ablation report "
              "(--by KEY makes one)")
    return 0


def ablation_keys(by: Optional[str], runs) -> List[str]:
    """The keys to group the ablation by: --by's, checked, or the ones that differ."""
    from .settings import check_keys, differing_keys

    if by is None:
        return differing_keys(runs) or he2016b_keys(runs)
    keys = [k.strip() for k in by.split(",") if k.strip()]
    check_keys(keys, runs)
    return keys


def he2016b_keys(runs) -> List[str]:
    """Runs that differ in nothing still get an ablation, by model, where some of them
    build a case of He et al. 2016b that Table 6 does not cover (preact_resnet164 on
    CIFAR-100, resnet110 unit=bn_after_add): table6.md has no column for its value, the
    ablation does. A Table-6 run already has its paper value in table6.md."""
    from .ablation import he2016b_value, table6_value

    return (["model.name"] if any(he2016b_value(run) and not table6_value(run)
                                  for run in runs) else [])


def ablation(runs, keys: List[str], out_dir: Path) -> str:
    """Writes the ablation's files; returns its table and what was written."""
    from .ablation import build_ablation, write_ablation
    from .ablation_plot import plot_curves, plot_means

    rows = build_ablation(runs, keys)
    markdown = write_ablation(rows, keys, out_dir)
    written = [out_dir / "ablation.md", out_dir / "ablation.csv",
               plot_means(rows, keys, out_dir / "ablation_means.png"),
               plot_curves(rows, keys, out_dir / "ablation_curves.png")]
    return markdown + "wrote " + ", ".join(str(w) for w in written if w)


CLASS_WORDS = {"full": "full schedule on", "scaled": "scaled schedule on", "other": "other",
               "unfinished": "unfinished"}  # in the order printed


def class_counts(runs) -> str:
    """How many runs of each class (collect.Run.status), full and scaled ones per data set,
    e.g. "3 full schedule on CIFAR-10, 2 scaled schedule on CIFAR-100, 1 other"."""
    counts = Counter((run.status, data_set_name(run.data_name)
                      if run.status in ("full", "scaled") else "") for run in runs)
    order = list(CLASS_WORDS)
    ranked = sorted(counts.items(), key=lambda item: (order.index(item[0][0]), item[0][1]))
    return ", ".join(" ".join(filter(None, (str(n), CLASS_WORDS[status], data)))
                     for (status, data), n in ranked) or "none"


def fig7(runs, out_dir: Path) -> Optional[Path]:
    from .figures import plot_fig7, representative_runs
    from .layer_responses import run_response_stds

    stds = {}
    for model, run in representative_runs(runs).items():
        values = run_response_stds(run.path)
        if values:
            stds[model] = values
    return plot_fig7(stds, out_dir / "fig7.png")


if __name__ == "__main__":
    sys.exit(main())
