"""`rescore-publish RUN_DIR [RUN_DIR ...] --to DEST` (also `python -m rescore.report.publish`): copy what a finished
run publishes into a results folder that can be committed, and nothing else.

What a run publishes: `result.json` (the test error, the config, the weights' sha256),
`metrics.jsonl` (the curves of Fig. 6) and `model.weights.h5` (the final weights, with the
normalisation they expect; with optim.ema also `model_ema.weights.h5`, the average), so
that `rescore eval` can check the published folder alone and
`rescore.report` can rebuild the tables and figures from it; and `segments.jsonl` (when and
where each stretch of the run trained, with which code: train/provenance.py) where the run
has one (runs trained before rescore wrote it have none). Never checkpoints, TensorBoard
files or logs: they are large and say nothing these do not.

Each run lands in DEST/<model>/<config digest>/seed=<n>[.restart<k>]/, named from its
result.json as rescore names run folders (train/rundir.py), wherever the folder itself lies or
however it was renamed, so runs of one config stay together as in `outputs/`. Every run is
checked before anything is copied, and one refused run stops them all:
- it finished (result.json says so: a run still training, or stopped, has no final weights);
- its weights file carries, in its own description, the sha256 result.json recorded (a
  label the run wrote into the file; `rescore eval` on the published folder then checks the
  arrays themselves against it);
- no file is --max-mb or larger (default 2: results/ holds no file of 2 MB, 2,000,000 bytes,
  or more);
- a file already at the destination is the same file (then it is left as is: publishing
  again is harmless), never a different one.
Copies go through a temporary `*.partial` name that is renamed when whole; one left by a
killed earlier publication is removed before copying, so none is left to be committed.

Exit status: 0 published (or already there) · 2 refused, with what was wrong · 9 the
weights are not the ones the run recorded (as `rescore eval`).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from ..errors import RescoreError, WeightsError
from ..train.rundir import SEGMENTS_NAME, restart_dir_path, restart_number
from ..train.weights_file import EMA_WEIGHTS_FILE, WEIGHTS_FILE, read_description

PROG = "rescore-publish"
RESULT_FILE, METRICS_FILE = "result.json", "metrics.jsonl"
PUBLISHED_FILES = (RESULT_FILE, METRICS_FILE, WEIGHTS_FILE)  # every run has them
# runs trained before rescore wrote them lack them; only EMA runs have the second
PUBLISHED_IF_PRESENT = (SEGMENTS_NAME, EMA_WEIGHTS_FILE)
RESULT_KEYS = ("finished", "steps", "max_steps", "test_error", "weights_sha256", "model",
               "seed", "config_digest", "config")
MAX_MB = 2.0  # results/ holds no file of 2 MB or more (decimal; the tests use it too)
MB = 1_000_000
PARTIAL = ".partial"


class PublishRefused(RescoreError):
    exit_code = 2


@dataclass(frozen=True)
class Publication:
    run_dir: Path
    target_dir: Path
    files: Tuple[str, ...]  # the names copied: PUBLISHED_FILES and those of the others present
    test_error: float
    weights_sha256: str


def plan(run_dir: Path, dest: Path, max_mb: float = MAX_MB) -> Publication:
    """Check one run folder and say where it goes; reads, never writes."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PublishRefused(f"{run_dir} is not a folder: give finished run folders")
    result = read_result(run_dir)
    missing = [name for name in PUBLISHED_FILES if not (run_dir / name).is_file()]
    if missing:
        raise PublishRefused(f"{run_dir} lacks {', '.join(missing)}: a finished run folder "
                             f"holds {', '.join(PUBLISHED_FILES)}")
    check_weights_are_the_runs(run_dir, WEIGHTS_FILE, result["weights_sha256"])
    files = PUBLISHED_FILES + tuple(name for name in PUBLISHED_IF_PRESENT
                                    if (run_dir / name).is_file())
    if EMA_WEIGHTS_FILE in files:
        if "ema_weights_sha256" not in result:
            raise PublishRefused(f"{run_dir} holds {EMA_WEIGHTS_FILE}, but its {RESULT_FILE} "
                                 f"records no EMA (no ema_weights_sha256): the file is not "
                                 f"this run's; remove it, or publish the run it came from")
        check_weights_are_the_runs(run_dir, EMA_WEIGHTS_FILE, result["ema_weights_sha256"])
    check_sizes(run_dir, files, max_mb)
    target_dir = Path(dest) / published_folder(result)
    check_destination(run_dir, target_dir, files)
    return Publication(run_dir, target_dir, files, result["test_error"],
                       result["weights_sha256"])


def plan_all(run_dirs: List[Path], dest: Path, max_mb: float = MAX_MB) -> List[Publication]:
    """Every run checked before anything is copied; two runs may not land in one folder."""
    publications = [plan(run_dir, dest, max_mb) for run_dir in run_dirs]
    seen = {}
    for p in publications:
        if p.target_dir in seen:
            raise PublishRefused(f"{seen[p.target_dir]} and {p.run_dir} would both land in "
                                 f"{p.target_dir} (same model, config digest and seed)")
        seen[p.target_dir] = p.run_dir
    return publications


def published_folder(result: dict) -> Path:
    """<model>/<config digest>/seed=<n>[.restart<k>], as rescore names the run's folder
    (conf/config.yaml's hydra.run.dir; rundir.py for a restart)."""
    folder = Path(result["model"], result["config_digest"], f"seed={result['seed']}")
    restart = restart_number(((result["config"] or {}).get("trainer") or {}).get("restart", False))
    return restart_dir_path(folder, restart) if restart else folder


def read_result(run_dir: Path) -> dict:
    path = run_dir / RESULT_FILE
    if not path.is_file():
        raise PublishRefused(f"{run_dir} holds no {RESULT_FILE}: not a finished run folder (a "
                             f"run folder is <out_root>/<name>/<model>/<digest>/seed=<n>, and "
                             f"a run still training has no result yet)")
    try:
        result = json.loads(path.read_text())
    except ValueError as err:
        raise PublishRefused(f"{path} is not JSON: {err}") from err
    lacking = [key for key in RESULT_KEYS if key not in result]
    if lacking:
        raise PublishRefused(f"{path} is not a rescore result: it has no {', '.join(lacking)}")
    if not result["finished"]:
        raise PublishRefused(f"{run_dir} stopped at iteration {result['steps']:,} of "
                             f"{result['max_steps']:,}: only finished runs are published; run "
                             f"its command again to finish it")
    return result


def check_weights_are_the_runs(run_dir: Path, name: str, recorded: str) -> None:
    """The hash in the weights file's own description is the one result.json recorded for
    it (weights_sha256; ema_weights_sha256 for the EMA average)."""
    weights = run_dir / name
    try:
        description = read_description(weights)
    except (OSError, KeyError, ValueError) as err:
        raise WeightsError(f"{weights} cannot be read as rescore weights: {err}") from err
    if description is None:
        raise WeightsError(f"{weights} has no rescore description (plain Keras weights, not "
                           f"the file a finished run writes): it cannot be matched with "
                           f"{run_dir / RESULT_FILE}")
    if description.weights_sha256 != recorded:
        raise WeightsError(f"{weights} carries weights_sha256 {description.weights_sha256}, "
                           f"but {run_dir / RESULT_FILE} recorded {recorded}: these are not "
                           f"the run's final weights")


def check_sizes(run_dir: Path, files: Tuple[str, ...], max_mb: float) -> None:
    for name in files:
        size = (run_dir / name).stat().st_size
        if size >= max_mb * MB:
            raise PublishRefused(f"{run_dir / name} is {size:,} bytes, not under the "
                                 f"{max_mb:g} MB ({max_mb * MB:,.0f} bytes) a committed file "
                                 f"may take (--max-mb)")


def check_destination(run_dir: Path, target_dir: Path, files: Tuple[str, ...]) -> None:
    for name in files:
        there = target_dir / name
        if there.exists() and not filecmp.cmp(run_dir / name, there, shallow=False):
            raise PublishRefused(f"{there} exists and differs from {run_dir / name}: another "
                                 f"run of the same model, config and seed was published "
                                 f"there; remove it first if this one replaces it")


def copy(publication: Publication) -> List[Path]:
    """The files copied (those already there, identical, are left as they are)."""
    publication.target_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in publication.files:
        target = publication.target_dir / name
        partial = target.with_name(name + PARTIAL)
        partial.unlink(missing_ok=True)  # left by a publication that was killed
        if target.exists():
            continue
        shutil.copyfile(publication.run_dir / name, partial)
        partial.replace(target)
        copied.append(target)
    return copied


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                        help="finished run folders (<out_root>/<name>/<model>/<digest>/seed=<n>)")
    parser.add_argument("--to", type=Path, required=True, metavar="DEST",
                        help="the results folder, e.g. results/cifar10_full/runs")
    parser.add_argument("--max-mb", type=positive_float, default=MAX_MB,
                        help=f"refuse any file of this many MB (10^6 bytes) or more (default "
                             f"{MAX_MB:g})")
    return parser.parse_args(argv)


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of MB above 0, got {text}")
    return value


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        publications = plan_all(args.run_dirs, args.to, args.max_mb)
    except RescoreError as err:
        print(f"{PROG}: refused, nothing copied: {err}", file=sys.stderr)
        return err.exit_code
    for publication in publications:
        try:
            copied = copy(publication)
        except OSError as err:  # disk full, permissions: say where, keep what is whole
            print(f"{PROG}: copying {publication.run_dir} to {publication.target_dir} failed: "
                  f"{err}; the runs listed above were published, this one and the rest were "
                  f"not (whole files only: run the command again once fixed)", file=sys.stderr)
            return 2
        state = f"copied {len(copied)} file(s)" if copied else "already published"
        print(f"{publication.target_dir}: {state}; test error "
              f"{100 * publication.test_error:.2f} %, weights_sha256 "
              f"{publication.weights_sha256}\n  check: rescore eval {publication.target_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
