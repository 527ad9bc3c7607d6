"""rescore.report on small hand-written sweep folders: the numbers in the table, the
separation of full / scaled / unfinished runs, and that the figure is written."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Optional

import pytest

from rescore.report.__main__ import main as report_main
from rescore.report.collect import collect
from rescore.report.table6 import build_rows


def write_run(root: Path, model: str, seed: int, test_error: float, *, scale: float = 1.0,
              finished: bool = True, digest: str = "abc123", params: int = 272474,
              max_steps: int = 64000, curve=((100, 0.5, None), (200, 0.3, 0.35)),
              data: str = "cifar10", val_split: int = 0, base_max_steps: int = 64000,
              milestones=(32000, 48000), config=None, shortcut: Optional[str] = "A",
              placement: Optional[str] = None) -> Path:
    """A result.json as loop.final_result writes it; `max_steps` is the scaled one, the
    config holds the unscaled `base_max_steps` and `milestones`, as a real run's does;
    `shortcut` and `placement` are what the net was built with (placement: not recorded,
    as before result.json had it)."""
    run_dir = root / model / digest / f"seed={seed}"
    run_dir.mkdir(parents=True)
    if config is None:
        config = {"data": {"name": data, "val_split": val_split, "synthetic_train": 512},
                  "optim": {"max_steps": base_max_steps, "milestones": list(milestones),
                            "schedule_scale": scale}}
    placed = {} if placement is None else {"placement": placement}
    (run_dir / "result.json").write_text(json.dumps({
        "model": model, "shortcut": shortcut, **placed, "seed": seed, "test_error": test_error,
        "test_loss": 0.3, "params": params, "steps": max_steps if finished else max_steps // 2,
        "max_steps": max_steps, "schedule_scale": scale, "finished": finished,
        "warmup_end": -1, "wall_time_s": 10.0, "images_per_sec": 100.0,
        "config_digest": digest, "weights_sha256": "0" * 64, "config": config}))
    write_metrics(run_dir, curve)
    return run_dir


def write_metrics(run_dir: Path, curve) -> None:
    lines = []
    for step, train_error, test_error in curve:
        lines.append({"step": step, "split": "train", "loss": 1.0, "error": train_error,
                      "lr": 0.1, "images_per_sec": 100.0})
        if test_error is not None:
            lines.append({"step": step, "split": "test", "loss": 1.0, "error": test_error})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "table6"
    # Three full-schedule seeds of ResNet-20: 8.0, 8.5, 9.0 %.
    for seed, error in enumerate((0.080, 0.085, 0.090)):
        write_run(root, "resnet20", seed, error)
    # Two full seeds of ResNet-56: 7.0, 7.4 %.
    write_run(root, "resnet56", 0, 0.070, params=853018)
    write_run(root, "resnet56", 1, 0.074, params=853018)
    # A scaled ResNet-20 run: far worse, must not pull the full rows' mean.
    write_run(root, "resnet20", 0, 0.200, scale=1 / 32, max_steps=2000, digest="scaled01")
    # A ResNet-20 run that stopped early (finished: false), same digest as the full ones.
    write_run(root, "resnet20", 7, 0.500, finished=False)
    # A plain net still training: no result.json, only metrics and Hydra's config.
    live = root / "plain20" / "live0001" / "seed=0"
    (live / ".hydra").mkdir(parents=True)
    (live / ".hydra" / "config.yaml").write_text(
        "model:\n  name: plain20\nshortcut:\n  option: A\nseed: 0\ndata:\n  name: cifar10\n"
        "  val_split: 0\noptim:\n  max_steps: 64000\n  milestones: [32000, 48000]\n"
        "  schedule_scale: 1/32\n")
    write_metrics(live, [(100, 0.6, None), (250, 0.5, 0.55), (300, 0.45, None),
                         (250, 0.5, 0.52)])  # resumed: step 250 logged twice, later wins
    return root


def rows_by(rows, status, model):
    return [r for r in rows if r.status == status and r.model == model]


def test_full_rows_mean_sample_std_best_n(sweep: Path):
    rows = build_rows(collect([sweep]))
    (r20,) = rows_by(rows, "full", "resnet20")
    assert r20.n == 3 and r20.seeds == [0, 1, 2]
    assert r20.best == pytest.approx(8.0)
    assert r20.mean == pytest.approx(8.5)
    assert r20.std == pytest.approx(0.5)  # sample std (ddof=1); population std is 0.408
    (r56,) = rows_by(rows, "full", "resnet56")
    assert (r56.n, r56.best, r56.mean) == (2, pytest.approx(7.0), pytest.approx(7.2))
    assert r56.std == pytest.approx(0.2828427, abs=1e-6)
    assert r56.params_m == pytest.approx(0.853018)
    assert r56.paper.error == 6.97 and r56.layers == 56


def test_scaled_and_unfinished_runs_are_separate_rows(sweep: Path):
    rows = build_rows(collect([sweep]))
    (scaled,) = rows_by(rows, "scaled", "resnet20")
    assert scaled.n == 1 and scaled.mean == pytest.approx(20.0) and scaled.std is None
    assert scaled.schedule_scale == pytest.approx(1 / 32)
    (stopped,) = rows_by(rows, "unfinished", "resnet20")
    assert stopped.errors == [pytest.approx(50.0)] and stopped.iterations == "32000/64000"
    assert stopped.params_m == pytest.approx(0.272474)
    (live,) = rows_by(rows, "unfinished", "plain20")
    assert live.errors == [pytest.approx(52.0)]  # the later record of step 250
    assert live.iterations == "300/2000" and live.paper is None
    assert "not final" in live.source
    # Full rows come first, then scaled, then unfinished.
    assert [r.status for r in rows] == ["full", "full", "scaled", "unfinished", "unfinished"]


@pytest.mark.slow
def test_cli_writes_table_csv_and_figure(sweep: Path, tmp_path: Path, capsys):
    assert report_main([str(sweep)]) == 0
    markdown = (sweep / "table6.md").read_text()
    assert markdown in capsys.readouterr().out
    assert "| ResNet | 20 | 0.27 | 0.27 | 8.75 | 8.00 | 8.50±0.50 | 3 | 0,1,2 |" in markdown
    assert "schedule_scale=1/32" in markdown and "6.43 (6.61±0.16)" in markdown
    with open(sweep / "table6.csv") as f:
        records = list(csv.DictReader(f))
    full20 = next(r for r in records if r["status"] == "full" and r["model"] == "resnet20")
    assert (full20["best"], full20["mean"], full20["std"], full20["n"]) == \
        ("8.0000", "8.5000", "0.5000", "3")
    assert sorted(r["status"] for r in records) == \
        ["full", "full", "scaled", "unfinished", "unfinished"]
    figure = sweep / "fig6.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000


@pytest.mark.slow
def test_cli_out_folder_and_several_inputs(sweep: Path, tmp_path: Path):
    other = tmp_path / "fig6"
    write_run(other, "plain56", 0, 0.15, params=853018 - 19000)
    out = tmp_path / "report"
    assert report_main([str(sweep), str(other), "--out", str(out)]) == 0
    assert "| plain | 56 |" in (out / "table6.md").read_text()
    assert (out / "fig6.png").exists() and not (sweep / "table6.md").exists()


def test_empty_folder_reports_no_runs(tmp_path: Path):
    assert report_main([str(tmp_path)]) == 0
    assert "No runs found." in (tmp_path / "table6.md").read_text()
    assert not (tmp_path / "fig6.png").exists()


def test_a_copied_run_folder_counts_once(sweep: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "archive"
    shutil.copytree(sweep / "resnet56", copy / "resnet56")
    rows = build_rows(collect([sweep, copy]))
    (r56,) = rows_by(rows, "full", "resnet56")
    assert r56.n == 2 and r56.seeds == [0, 1]


@pytest.mark.slow
def test_a_missing_folder_is_skipped_with_a_warning(sweep: Path, tmp_path: Path, capsys):
    out = tmp_path / "report"
    assert report_main([str(tmp_path / "not_started"), str(sweep), "--out", str(out)]) == 0
    assert "skipped" in capsys.readouterr().err
    assert "| ResNet | 56 |" in (out / "table6.md").read_text()
    assert report_main([str(tmp_path / "not_started")]) == 2


@pytest.mark.slow
def test_runs_csv_lists_every_run_with_its_time(sweep: Path):
    assert report_main([str(sweep)]) == 0
    with open(sweep / "runs.csv") as f:
        records = list(csv.DictReader(f))
    assert len(records) == 8  # 3 + 2 full, 1 scaled, 1 stopped, 1 still training
    live = next(r for r in records if r["model"] == "plain20")
    assert (live["status"], live["steps"], live["max_steps"], live["wall_time_s"]) == \
        ("unfinished", "300", "2000", "")
    assert {r["wall_time_s"] for r in records if r["model"] == "resnet56"} == {"10"}


@pytest.mark.slow
def test_fig7_layer_response_stds_come_from_the_checkpoint(tmp_path: Path):
    import dataclasses

    import keras
    import numpy as np

    from rescore.config import Config, OptimConfig
    from rescore.models import build_model
    from rescore.report.layer_responses import (_test_images, run_response_stds,
                                                three_by_three_bn_layers)
    from rescore.train.checkpoint import Checkpoints, RunState, WarmupState
    from rescore.train.optimizer import SGDMomentum

    c = Config()
    c.model.name, c.data.name = "resnet8", "synthetic"
    c.data.synthetic_train, c.data.synthetic_test = 64, 32
    keras.utils.set_random_seed(0)
    model = build_model("resnet8")
    layers = three_by_three_bn_layers(model)
    assert len(layers) == 7  # stem + 2 per block x 3 blocks; the 1x1 projections excluded
    # A layer whose response is constant (γ=0, β=0.5): std 0, but only if the checkpoint,
    # not a fresh initialisation (γ=1), is what gets measured.
    layers[2].gamma.assign(np.zeros(layers[2].gamma.shape, np.float32))
    layers[2].beta.assign(np.full(layers[2].beta.shape, 0.5, np.float32))
    run_dir = tmp_path / "fig6" / "resnet8" / "d1" / "seed=0"
    run_dir.mkdir(parents=True)
    (run_dir / "result.json").write_text(json.dumps({
        "model": "resnet8", "shortcut": "A", "seed": 0, "test_error": 0.5, "params": 78042,
        "steps": 1, "max_steps": 1, "schedule_scale": 1.0, "finished": True,
        "config_digest": "d1", "config": dataclasses.asdict(c)}))
    write_metrics(run_dir, [(1, 0.9, 0.9)])
    Checkpoints(run_dir / "checkpoints", 1, model=model,
                optimizer=SGDMomentum(model.trainable_variables, OptimConfig()),
                state=RunState(WarmupState())).save(1)

    stds = run_response_stds(run_dir, n_images=32)
    assert len(stds) == 7 and stds[2] == pytest.approx(0.0, abs=1e-6)
    images = _test_images(c.data, 32)
    stem = keras.Model(model.input, model.get_layer("stem_bn").output)
    assert stds[0] == pytest.approx(float(np.std(stem(images, training=False))), rel=1e-4)

    assert report_main([str(tmp_path / "fig6"), "--fig7"]) == 0
    assert (tmp_path / "fig6" / "fig7.png").stat().st_size > 10_000


# ------------------------------------------------- classes: full, scaled, other (issue 11)

@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """One run of each kind the report must tell apart."""
    root = tmp_path / "mixed"
    write_run(root, "resnet20", 0, 0.0875, digest="full0")  # the paper's recipe
    # 45k/5k: the paper's split chose the schedule; its Table 6 models trained on all 50k
    write_run(root, "resnet20", 0, 0.0901, digest="val45k", val_split=5000)
    write_run(root, "resnet20", 0, 0.2658, digest="scaled0", scale=1 / 32, max_steps=2000)
    # experiment=smoke: 40 iterations on synthetic data, the run issue 11 found listed as
    # "full schedule" under a CIFAR-10 title.
    write_run(root, "resnet20", 0, 0.8047, digest="smoke0", data="synthetic",
              max_steps=40, base_max_steps=40, milestones=(20, 30))
    # The paper's schedule on synthetic data, and shortened or altered schedules on CIFAR-10.
    write_run(root, "resnet20", 0, 0.01, digest="synth64k", data="synthetic")
    write_run(root, "resnet20", 0, 0.30, digest="short0", max_steps=2000,
              base_max_steps=2000, milestones=(1000, 1500))
    write_run(root, "resnet20", 0, 0.09, digest="latedrop", milestones=(32000, 56000))
    write_run(root, "resnet20", 0, 0.09, digest="noconfig", config={})  # says nothing
    return root


def test_each_run_gets_its_class(mixed: Path):
    status = {r.config_digest: r.status for r in collect([mixed])}
    assert status == {"full0": "full", "val45k": "other", "scaled0": "scaled",
                      "smoke0": "other", "synth64k": "other", "short0": "other",
                      "latedrop": "other", "noconfig": "other"}


def test_each_run_says_what_it_was(mixed: Path):
    recipe = {r.config_digest: r.recipe for r in collect([mixed])}
    assert recipe["full0"] == "CIFAR-10, trained on 50,000 images; 64,000 iterations"
    assert recipe["val45k"] == ("CIFAR-10, trained on 45,000 images, 5,000 held out for "
                                "validation; 64,000 iterations; not the paper's recipe: "
                                "data.val_split=5000")
    assert recipe["scaled0"] == ("CIFAR-10, trained on 50,000 images; 2,000 iterations "
                                 "(schedule_scale=1/32)")
    assert recipe["smoke0"] == ("synthetic data, trained on 512 images; 40 iterations (lr "
                                "drops at 20, 30; the paper: 64,000, drops at 32,000, 48,000)")
    assert recipe["latedrop"].endswith("64,000 iterations (lr drops at 32,000, 56,000; the "
                                       "paper: 64,000, drops at 32,000, 48,000)")
    assert recipe["noconfig"].startswith("data set unknown (no config)")


@pytest.mark.slow
def test_report_sections_keep_the_classes_apart_with_honest_titles(mixed: Path):
    rows = build_rows(collect([mixed]))
    assert [r.status for r in rows] == ["full"] + ["scaled"] + ["other"] * 6
    assert len({r.recipe for r in rows if r.status == "full"}) == 1  # 45k/5k is other
    assert report_main([str(mixed)]) == 0
    markdown = (mixed / "table6.md").read_text()
    assert not markdown.startswith("# CIFAR-10")
    titles = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert titles[:2] == [
        "## Full schedule, comparable to the paper: CIFAR-10, trained on 50,000 images; "
        "64,000 iterations",
        "## Scaled schedule, NOT comparable to the paper's numbers: CIFAR-10, trained on "
        "50,000 images; 2,000 iterations (schedule_scale=1/32)"]
    assert all(t.startswith("## Other runs (not the paper's data, schedule or training "
                            "recipe), NOT comparable") for t in titles[2:8])
    assert len(titles) == 9  # and the paper's own table
    full = markdown.split("## Scaled")[0]
    assert "80.47" not in full and "| 8.75 | 8.75 | 8.75±– |" in full
    smoke = next(line for line in markdown.splitlines() if "| 80.47 |" in line)
    assert smoke.startswith("| ResNet | 20 | 0.27 | – | – | 80.47 |")  # no paper number
    with open(mixed / "runs.csv") as f:
        by_digest = {r["config_digest"]: r for r in csv.DictReader(f)}
    assert by_digest["smoke0"]["status"] == "other"
    assert by_digest["smoke0"]["recipe"].startswith("synthetic data")


def test_figure_prefers_cifar10_and_names_what_it_draws(mixed: Path):
    from rescore.report.figures import figure_title, representative_runs

    runs = collect([mixed])
    assert representative_runs(runs)["resnet20"].config_digest == "full0"  # the full run, not the 45k/5k one
    synthetic = [r for r in runs if r.config_digest == "smoke0"]
    assert representative_runs(synthetic)["resnet20"].status == "other"
    title = figure_title(synthetic)
    assert title.startswith("synthetic data: training error") and "40 iterations" in title
    assert figure_title([r for r in runs if r.config_digest == "full0"]).startswith(
        "CIFAR-10: training error")


def test_a_curve_drawn_for_several_seeds_names_its_seed_and_their_number(tmp_path: Path):
    from rescore.report.figures import _fig6_label, representative_runs, seeds_of_config

    for seed in (2, 0, 1):
        write_run(tmp_path, "resnet20", seed, 0.085, digest="full")
    write_run(tmp_path, "resnet20", 0, 0.25, digest="scaled", scale=1 / 32, max_steps=2000)
    write_run(tmp_path, "plain20", 0, 0.09, digest="plain")
    runs = collect([tmp_path])
    drawn = representative_runs(runs)
    assert (drawn["resnet20"].seed, drawn["resnet20"].config_digest) == (0, "full")
    assert seeds_of_config(drawn["resnet20"], runs) == 3  # not the scaled run's seed 0
    assert _fig6_label(drawn["resnet20"], "ResNet", 3) == "ResNet-20 (seed 0, one of 3)"
    assert seeds_of_config(drawn["plain20"], runs) == 1
    assert _fig6_label(drawn["plain20"], "plain", 1) == "plain-20"


def test_paper_schedule_is_the_default_config():
    from rescore.config import OptimConfig
    from rescore.report.paper import ITERATIONS, MILESTONES

    assert (OptimConfig().max_steps, tuple(OptimConfig().milestones)) == (ITERATIONS,
                                                                          MILESTONES)


def test_cifar100_and_cosine_runs_get_their_own_class_and_no_table6_value(tmp_path: Path):
    root = tmp_path / "more"
    write_run(root, "resnet20", 0, 0.3120, digest="c100full", data="cifar100")
    write_run(root, "resnet20", 0, 0.4410, digest="c100scaled", data="cifar100",
              scale=1 / 32, max_steps=2000)
    cosine = {"data": {"name": "cifar10", "val_split": 0},
              "optim": {"max_steps": 64000, "milestones": [32000, 48000], "schedule_scale": 1,
                        "schedule": "cosine"}}
    write_run(root, "resnet20", 0, 0.0790, digest="cosine", config=cosine)
    runs = {r.config_digest: r for r in collect([root])}
    assert {k: r.status for k, r in runs.items()} == {
        "c100full": "full", "c100scaled": "scaled", "cosine": "other"}
    assert runs["c100full"].recipe == "CIFAR-100, trained on 50,000 images; 64,000 iterations"
    assert runs["cosine"].recipe == ("CIFAR-10, trained on 50,000 images; 64,000 iterations, "
                                     "cosine lr (schedule_scale=1; the paper: step drops at "
                                     "32,000, 48,000)")
    rows = {(r.status, r.recipe.split(",")[0]): r for r in build_rows(list(runs.values()))}
    assert rows[("full", "CIFAR-100")].paper is None  # Table 6 is CIFAR-10's
    assert rows[("other", "CIFAR-10")].paper is None  # nor a cosine schedule's
    from rescore.report.table6 import section_title
    assert section_title(rows[("full", "CIFAR-100")]).startswith(
        "Full schedule (Table 6 is CIFAR-10's: no paper value here): CIFAR-100")


def test_a_report_with_cifar100_runs_names_its_data_sets_in_title_and_summary(
        tmp_path: Path, capsys):
    root = tmp_path / "runs"
    write_run(root, "resnet20", 0, 0.0850, digest="c10full")
    write_run(root, "resnet20", 1, 0.0860, digest="c10full")
    write_run(root, "resnet20", 0, 0.3120, digest="c100full", data="cifar100")
    write_run(root, "resnet20", 0, 0.4410, digest="c100scaled", data="cifar100",
              scale=1 / 32, max_steps=2000)
    assert report_main([str(root), "--out", str(tmp_path / "report")]) == 0
    assert ("4 run(s) (2 full schedule on CIFAR-10, 1 full schedule on CIFAR-100, 1 scaled "
            "schedule on CIFAR-100)") in capsys.readouterr().out
    first = (tmp_path / "report" / "table6.md").read_text().splitlines()[0]
    assert first == ("# Test error of rescore's runs on CIFAR-10 and CIFAR-100, beside He et "
                     "al. 2016, Table 6 (CIFAR-10 only)")
    (tmp_path / "runs" / "resnet20" / "c100full").rename(tmp_path / "c100full")
    (tmp_path / "runs" / "resnet20" / "c100scaled").rename(tmp_path / "c100scaled")
    assert report_main([str(root), "--out", str(tmp_path / "c10")]) == 0
    assert "(2 full schedule on CIFAR-10)" in capsys.readouterr().out
    assert (tmp_path / "c10" / "table6.md").read_text().startswith(
        "# Test error of rescore's runs beside He et al. 2016, Table 6\n")  # as before


def test_a_unit_ablation_gets_no_table6_value_and_is_not_drawn_as_fig6s_net(tmp_path: Path):
    from rescore.report.figures import representative_runs

    root = tmp_path / "units"
    # ResNet-110's config as its model group composes it: the paper's warm-up
    config = {"data": {"name": "cifar10", "val_split": 0},
              "optim": {"max_steps": 64000, "milestones": [32000, 48000], "schedule_scale": 1,
                        "warmup": {"until_train_error": 0.8}}}
    write_run(root, "resnet110", 0, 0.0817, digest="bnafter",
              config={**config, "unit": {"placement": "bn_after_add"}})
    write_run(root, "resnet110", 1, 0.0650, digest="own", config=config)
    runs = collect([root])
    paper = {r.config_digest: r.paper for r in build_rows(runs)}
    assert paper["bnafter"] is None and paper["own"].error == 6.43  # Table 6, ResNet-110
    assert representative_runs(runs)["resnet110"].config_digest == "own"


def test_runs_csv_says_what_eval_checks_and_which_code_and_cpu_trained(tmp_path: Path):
    """runs.csv carries result.json's weights_sha256 and its segments' commits and CPUs
    (a run resumed with newer code lists both, in order; an unknown commit is named), and
    a run folder under the report's folder is given relative to it."""
    root = tmp_path / "report"
    resumed = write_run(root / "runs", "resnet20", 0, 0.085)
    result = json.loads((resumed / "result.json").read_text())
    result["weights_sha256"] = "ab" * 32
    result["segments"] = {"count": 3, "rescore_commits": ["7347bd3aa", None, "d501636bb"],
                          "cpus": ["Intel(R) Xeon(R) Processor"]}
    (resumed / "result.json").write_text(json.dumps(result))
    elsewhere = write_run(tmp_path / "elsewhere", "resnet20", 1, 0.09)  # no segments
    assert report_main([str(root), str(tmp_path / "elsewhere"), "--out", str(root)]) == 0
    with open(root / "runs.csv") as f:
        by_seed = {r["seed"]: r for r in csv.DictReader(f)}
    assert (by_seed["0"]["weights_sha256"], by_seed["0"]["rescore_commits"],
            by_seed["0"]["cpus"], by_seed["0"]["path"]) == (
        "ab" * 32, "7347bd3aa; unknown; d501636bb", "Intel(R) Xeon(R) Processor",
        "runs/resnet20/abc123/seed=0")
    assert (by_seed["1"]["weights_sha256"], by_seed["1"]["rescore_commits"],
            by_seed["1"]["cpus"], by_seed["1"]["path"]) == (
        "0" * 64, "", "", str(elsewhere.resolve()))
