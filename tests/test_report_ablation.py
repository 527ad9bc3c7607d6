"""The ablation report (issue 14 §3) on hand-written run folders: the statistics per
setting worked out by hand, the keys it groups by (found or asked for), the paper's
values beside the right rows, the files it writes, the EMA columns of runs that kept one
(issue 15) and the same bytes as before for runs that did not; and the t quantiles behind
its intervals, checked against the exact t distribution."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import pytest

from rescore.config import Config
from rescore.report.__main__ import main as report_main
from rescore.report.ablation import FIXED_CSV_FIELDS, build_ablation, ema_error_of, he2016b_value
from rescore.report.collect import collect
from rescore.report.settings import differing_keys
from rescore.report.stats import T975, summarize, t_quantile_975

from test_report import write_metrics

PNG = b"\x89PNG\r\n\x1a\n"
MODEL_GROUPS = {"resnet110": {"optim__warmup__until_train_error": 0.8}}  # conf/model/*.yaml


def config_with(**dotted) -> dict:
    """The schema's config as a run saves it (json: enums as their values), with
    `dotted` keys (unit__placement="x" for unit.placement) changed."""
    config = json.loads(json.dumps(asdict(Config())))
    for key, value in dotted.items():
        *groups, last = key.split("__")
        node = config
        for group in groups:
            node = node[group]
        node[last] = value
    return config


def write_run(root: Path, seed: int, test_error_pct: float, *, model: str = "resnet110",
              placement: str = "original", scale: float = 1.0, digest: str = "d",
              steps: Optional[int] = None, shortcut: str = "A", **dotted) -> Path:
    """A finished run as loop.final_result leaves it; its last training error is half
    its test error, so the training column is checkable too. Its config holds what the
    model's group adds (conf/model/resnet110.yaml: the paper's warm-up)."""
    config = config_with(model__name=model, seed=seed, optim__schedule_scale=scale,
                         out_root=f"/somewhere/{seed}", trainer__eval_every=100 + seed,
                         **{**MODEL_GROUPS.get(model, {}), **dotted})
    max_steps = steps or int(64000 * scale)  # the schedule's iterations after the scale
    run_dir = root / model / digest / f"seed={seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "result.json").write_text(json.dumps({
        "model": model, "shortcut": shortcut, "placement": placement, "seed": seed,
        "test_error": test_error_pct / 100, "params": 1_700_000, "steps": max_steps,
        "max_steps": max_steps, "schedule_scale": scale, "finished": True,
        "config_digest": digest, "config": config}))
    write_metrics(run_dir, [(max_steps // 2, 0.4, 0.45),
                            (max_steps, test_error_pct / 200, test_error_pct / 100)])
    return run_dir


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """ResNet-110 with three placements on the full schedule, one scaled run."""
    root = tmp_path / "units"
    for seed, error in enumerate((6.0, 7.0)):
        write_run(root, seed, error, digest="orig", unit__placement="original")
    for seed, error in enumerate((8.0, 8.5, 9.0)):
        write_run(root, seed, error, placement="bn_after_add", digest="bnadd",
                  unit__placement="bn_after_add")
    for seed, error in enumerate((5.0, 6.0, 7.0, 8.0, 9.0)):
        write_run(root, seed, error, placement="full_preact", digest="fullpre",
                  unit__placement="full_preact")
    write_run(root, 0, 30.0, placement="bn_after_add", scale=1 / 32, digest="bnadd32",
              unit__placement="bn_after_add")
    return root


def row_of(rows, status, **setting):
    wanted = tuple(setting.items())
    (row,) = [r for r in rows if r.status == status
              and tuple((k.replace("__", "."), v) for k, v in wanted) == r.setting]
    return row


# ----------------------------------------------------------------- statistics


def test_mean_sample_std_n_and_interval_by_hand(units: Path):
    rows = build_ablation(collect([units]), ["unit.placement"])
    orig = row_of(rows, "full", unit__placement="original")
    assert orig.test.n == 2 and orig.seeds == [0, 1]
    assert orig.test.mean == pytest.approx(6.5)
    assert orig.test.std == pytest.approx(math.sqrt(0.5))  # (0.5² + 0.5²) / (2 − 1)
    # t(0.975, 1) · s/√2 = 12.7062047 · 0.7071068 / 1.4142136
    assert orig.test.half_width == pytest.approx(6.3531024, abs=1e-6)
    assert orig.test.interval == pytest.approx((0.1468976, 12.8531024), abs=1e-6)
    bn = row_of(rows, "full", unit__placement="bn_after_add")
    assert (bn.test.n, bn.test.mean, bn.test.std) == (3, pytest.approx(8.5),
                                                      pytest.approx(0.5))
    assert bn.test.half_width == pytest.approx(4.3026527 * 0.5 / math.sqrt(3))
    assert bn.test.half_width == pytest.approx(1.2420688, abs=1e-6)
    pre = row_of(rows, "full", unit__placement="full_preact")
    assert (pre.test.n, pre.test.mean) == (5, pytest.approx(7.0))
    assert pre.test.std == pytest.approx(math.sqrt(2.5))  # (4+1+0+1+4)/4
    assert pre.test.half_width == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5))
    # The training error at the end: half each run's test error (write_run).
    assert (pre.train.n, pre.train.mean) == (5, pytest.approx(3.5))
    # The scaled run is its own row, in its own class: never pooled with the full ones.
    scaled = row_of(rows, "scaled", unit__placement="bn_after_add")
    assert scaled.test.n == 1 and scaled.test.mean == pytest.approx(30.0)
    assert scaled.test.std is None and scaled.test.half_width is None
    assert [r.status for r in rows] == ["full"] * 3 + ["scaled"]


def test_t_quantiles_known_values():
    assert round(t_quantile_975(1), 3) == 12.706
    assert round(t_quantile_975(2), 3) == 4.303
    assert round(t_quantile_975(4), 3) == 2.776
    assert round(t_quantile_975(30), 3) == 2.042
    # Above the table, the expansion: printed tables give 2.021, 2.000, 1.980 (df 40,
    # 60, 120), and it falls towards the normal 1.960.
    assert [round(t_quantile_975(df), 3) for df in (40, 60, 120)] == [2.021, 2.000, 1.980]
    assert 1.95996 < t_quantile_975(10_000) < 1.9603
    with pytest.raises(ValueError, match="df >= 1"):
        t_quantile_975(0)


def t_cdf(t: float, df: int) -> float:
    """The t distribution's CDF for integer df, exactly (Abramowitz & Stegun 26.7.3-4):
    A(t|df) = P(|T| < t) as a finite sum in θ = atan(t/√df)."""
    theta = math.atan(t / math.sqrt(df))
    c, s = math.cos(theta), math.sin(theta)
    start = 3 if df % 2 else 2
    term, total = (c, c) if df % 2 else (1.0, 1.0)
    for k in range(start, df - 1, 2):  # the next term is the last times c²·(k−1)/k
        term *= c * c * (k - 1) / k
        total += term
    if df % 2:
        a = 2 / math.pi * (theta + (s * total if df > 1 else 0.0))
    else:
        a = s * total
    return 0.5 + a / 2


def test_t_quantiles_are_the_exact_ones():
    assert t_cdf(1.0, 1) == pytest.approx(0.75)  # Cauchy: atan(1)/π + 1/2
    assert t_cdf(math.sqrt(2), 2) == pytest.approx(0.5 + math.sqrt(2) / (2 * 2))
    for df in range(1, 31):  # the table, to its 7 decimals
        assert t_cdf(T975[df - 1], df) == pytest.approx(0.975, abs=1e-8), df
    for df in (31, 35, 40, 60, 100, 120, 500):  # the expansion above it
        assert t_cdf(t_quantile_975(df), df) == pytest.approx(0.975, abs=1e-8), df


def test_one_value_has_no_spread():
    s = summarize([7.25])
    assert (s.n, s.mean, s.std, s.half_width, s.interval) == (1, 7.25, None, None, None)
    assert summarize([]).mean is None


# ----------------------------------------------------------------- keys


def test_the_keys_that_differ_are_found(units: Path):
    runs = collect([units])
    # seed, out_root and trainer.eval_every differ too, but do not define a setting
    assert differing_keys(runs) == ["optim.schedule_scale", "unit.placement"]


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    """model.name × optim.lr, two seeds each: error = base(model) + 1 if lr=0.05 + seed."""
    root = tmp_path / "grid"
    for model, base in (("resnet20", 8.0), ("resnet56", 7.0)):
        for lr, extra in ((0.1, 0.0), (0.05, 1.0)):
            for seed in (0, 1):
                write_run(root, seed, base + extra + seed, model=model, digest=f"{lr}",
                          optim__lr=lr)
    return root


def test_by_two_keys(grid: Path):
    rows = build_ablation(collect([grid]), ["model.name", "optim.lr"])
    assert [r.setting for r in rows] == [
        (("model.name", "resnet20"), ("optim.lr", 0.05)),
        (("model.name", "resnet20"), ("optim.lr", 0.1)),
        (("model.name", "resnet56"), ("optim.lr", 0.05)),
        (("model.name", "resnet56"), ("optim.lr", 0.1))]
    assert [r.test.mean for r in rows] == pytest.approx([9.5, 8.5, 8.5, 7.5])
    assert all(r.test.n == 2 and r.test.std == pytest.approx(math.sqrt(0.5)) for r in rows)
    assert all(not r.pooled for r in rows)
    # lr 0.05 is not the paper's recipe, but it is what the ablation varies: the rows stay
    # in the full-schedule class, and Table 6 stands only beside the paper's lr 0.1.
    assert [r.status for r in rows] == ["full"] * 4
    assert [r.table6.text if r.table6 else None for r in rows] == [None, "8.75", None,
                                                                   "6.97"]


def test_a_departure_not_grouped_on_is_another_class_not_pooled(grid: Path):
    rows = build_ablation(collect([grid]), ["model.name"])
    assert [(r.status, r.setting[0][1], r.test.n, r.pooled) for r in rows] == [
        ("full", "resnet20", 2, []), ("full", "resnet56", 2, []),
        ("other", "resnet20", 2, []), ("other", "resnet56", 2, [])]
    assert [r.test.mean for r in rows] == pytest.approx([8.5, 7.5, 9.5, 8.5])
    other = rows[2]
    assert other.recipes == ["CIFAR-10, trained on 50,000 images; 64,000 iterations; not "
                             "the paper's recipe: optim.lr=0.05"]


def test_by_one_key_says_what_it_pooled(tmp_path: Path):
    """data.crop_padding is not part of the recipe (the paper does not say what the padding
    holds): its runs stay full, and a row over model.name pools them, saying so."""
    root, out = tmp_path / "pad", tmp_path / "out"
    for seed, padding in ((0, "black"), (1, "black"), (2, "mean"), (3, "mean")):
        write_run(root, seed, 8.0 + seed, model="resnet20", digest=padding,
                  data__crop_padding=padding)
    assert report_main([str(root), "--by", "model.name", "--out", str(out)]) == 0
    rows = build_ablation(collect([root]), ["model.name"])
    assert [(r.status, r.test.n, r.pooled) for r in rows] == [
        ("full", 4, ["data.crop_padding"])]
    markdown = (out / "ablation.md").read_text()
    assert "model.name=resnet20 mixes runs that differ in data.crop_padding" in markdown


def test_no_by_groups_by_the_differing_keys(grid: Path):
    assert report_main([str(grid)]) == 0
    with open(grid / "ablation.csv") as f:
        header = next(csv.reader(f))
    assert header == ["model.name", "optim.lr", *FIXED_CSV_FIELDS]


def test_an_unknown_key_is_refused_naming_the_valid_ones(units: Path, capsys):
    assert report_main([str(units), "--by", "unit.placment,optim.lr"]) == 2
    err = capsys.readouterr().err
    assert "--by unit.placment: not a config key of these runs" in err
    assert "Keys that differ across them: optim.schedule_scale, unit.placement." in err
    assert "Every valid key: " in err and "optim.lr" in err and "seed" not in err
    assert not (units / "ablation.md").exists() and not (units / "table6.md").exists()


@pytest.mark.parametrize("by, message", [
    ("seed", "--by seed: does not define a run's result (the seed is what each row's "
             "statistics are over"),
    ("trainer.log_every", "--by trainer.log_every: does not define a run's result"),
    (",", "--by names no key. Keys that differ across these runs: optim.schedule_scale, "
          "unit.placement"),
])
def test_keys_that_cannot_group_are_refused_saying_why(units: Path, capsys, by, message):
    assert report_main([str(units), "--by", by]) == 2
    assert message in capsys.readouterr().err
    assert not (units / "ablation.md").exists()


# ----------------------------------------------------------------- the paper's values


def test_paper_values_beside_full_rows_only(units: Path):
    rows = build_ablation(collect([units]), ["unit.placement"])
    bn = row_of(rows, "full", unit__placement="bn_after_add")
    assert bn.he2016b.text == "8.17" and bn.he2016b.value == 8.17  # He 2016b, Table 2
    assert bn.he2016b.source == "He 2016b Table 2, BN after addition"
    assert bn.table6 is None  # not Table 6's unit
    assert row_of(rows, "full", unit__placement="full_preact").he2016b.text == "6.37"
    orig = row_of(rows, "full", unit__placement="original")
    assert (orig.he2016b.text, orig.table6.text) == ("6.61", "6.43 (6.61±0.16)")
    assert report_main([str(units), "--by", "unit.placement"]) == 0
    markdown = (units / "ablation.md").read_text()
    full = next(line for line in markdown.splitlines() if line.startswith("| bn_after_add")
                and "| 3 |" in line)
    assert "| 8.17 [Table 2, BN after addition] |" in full
    scaled = markdown.split("## Scaled")[1]
    assert "(8.17: not comparable, scaled) [Table 2, BN after addition]" in scaled
    with open(units / "ablation.csv") as f:
        records = list(csv.DictReader(f))
    assert [(r["status"], r["paper_he2016b"], r["paper_comparable"]) for r in records] == [
        ("full", "6.61", "true"), ("full", "8.17", "true"), ("full", "6.37", "true"),
        ("scaled", "8.17", "false")]


def test_a_unit_run_off_the_papers_recipe_gets_no_he2016b_value(tmp_path: Path):
    """He 2016b's numbers are for its units trained on the paper's recipe: bn_after_add with
    wd 5e-4 is another class (wd is not grouped on) and has no paper value at all."""
    root = tmp_path / "wd"
    write_run(root, 0, 8.0, placement="bn_after_add", digest="bn", unit__placement="bn_after_add")
    write_run(root, 0, 7.0, placement="bn_after_add", digest="bnwd",
              unit__placement="bn_after_add", optim__wd=5e-4)
    rows = build_ablation(collect([root]), ["unit.placement"])
    assert [(r.status, r.he2016b and r.he2016b.text, r.table6) for r in rows] == [
        ("full", "8.17", None), ("other", None, None)]
    assert rows[0].recipes == ["CIFAR-10, trained on 50,000 images; 64,000 iterations"]
    assert rows[1].recipes == ["CIFAR-10, trained on 50,000 images; 64,000 iterations; not "
                               "the paper's recipe: optim.wd=0.0005"]


MODERN = dict(optim__schedule="cosine", optim__max_steps=78125, optim__nesterov=True,
              optim__wd=5e-4, optim__label_smoothing=0.1, data__cutout=16)  # experiment=modern


@pytest.fixture
def paper_vs_modern(tmp_path: Path) -> Path:
    """Issue 15's evidence: ResNet-20 at 1/8, the paper's recipe (16, 18 %) and
    experiment=modern's (11, 12 %; 78,125 / 8 iterations, cosine)."""
    root = tmp_path / "paper_vs_modern"
    for seed, error in enumerate((16.0, 18.0)):
        write_run(root, seed, error, model="resnet20", scale=1 / 8, digest="paper")
    for seed, error in enumerate((11.0, 12.0)):
        write_run(root, seed, error, model="resnet20", scale=1 / 8, digest="modern",
                  steps=9766, **MODERN)
    return root


def test_a_schedule_ablation_keeps_the_paper_and_modern_recipes_in_one_section(
        paper_vs_modern: Path):
    runs = collect([paper_vs_modern])
    keys = differing_keys(runs)
    assert {"optim.schedule", "optim.max_steps", "optim.wd"} <= set(keys)
    rows = build_ablation(runs, keys)
    assert [(r.status, r.test.mean, r.iterations) for r in rows] == [
        ("scaled", 17.0, "8000"), ("scaled", 11.5, "9766")]  # the paper's row first
    paper, modern = rows
    assert paper.table6.text == "8.75" and not paper.comparable  # shown, marked scaled
    assert modern.table6 is None and modern.he2016b is None  # no paper value for cosine
    assert report_main([str(paper_vs_modern)]) == 0
    markdown = (paper_vs_modern / "ablation.md").read_text()
    assert markdown.count("## ") == 1 and "## Scaled schedule" in markdown
    assert "(8.75: not comparable, scaled)" in markdown


def test_many_ablated_keys_keep_the_figures_readable(paper_vs_modern: Path, tmp_path: Path,
                                                    monkeypatch):
    """The paper's recipe against experiment=modern differs in six keys (seven with its EMA,
    as in results/cifar10_modern_scale1-8): both titles wrap
    to the figure's width and the curves' labels go under the panel, clear of its x label
    (the first report of issue 15's runs cut the titles at both edges and squeezed the
    curves' axes beside a legend wider than the figure)."""
    import matplotlib.pyplot as pyplot

    from rescore.report import ablation_plot

    kept = []
    monkeypatch.setattr(pyplot, "close", kept.append)  # keep the figures to measure them
    runs = collect([paper_vs_modern])
    keys = differing_keys(runs)
    assert len(keys) == 6
    rows = build_ablation(runs, keys)
    assert ablation_plot.plot_curves(rows, keys, tmp_path / "curves.png")
    assert ablation_plot.plot_means(rows, keys, tmp_path / "means.png")
    curves, means = kept
    for figure in (curves, means):
        figure.canvas.draw()
        title = figure._suptitle.get_window_extent()
        assert 0 <= title.x0 and title.x1 <= figure.bbox.width
    axes = curves.axes[0]
    legend = axes.get_legend().get_window_extent()
    assert legend.y1 < axes.xaxis.label.get_window_extent().y0  # under the x label
    assert axes.get_window_extent().width > 0.8 * curves.bbox.width  # the curves keep the width
    for text in axes.get_legend().get_texts():
        assert max(len(line) for line in text.get_text().split("\n")) <= \
            ablation_plot.LABEL_WIDTH


def test_short_titles_and_labels_are_left_as_they_are():
    from rescore.report.ablation_plot import curve_label, wrapped_title

    title = "CIFAR-10: test error by unit.placement, mean and 95 % CI (Student's t)"
    assert wrapped_title(title, 6.0) == title  # 71 characters: within 6 in x 12.5
    assert wrapped_title("a\nb", 6.0) == "a\nb"
    label = "unit.placement=bn_after_add (seed 0)"
    assert curve_label(label) == label
    long = " ".join(f"key{i}=value{i}" for i in range(10))  # 119 characters
    assert curve_label(long).split("\n") == [long[:59], long[60:]]  # 59 + 59, at a space


def test_without_the_schedule_keys_the_modern_recipe_stays_apart(paper_vs_modern: Path):
    # every other key that differs grouped: only the schedule keeps the modern rows out
    keys = ["data.cutout", "optim.label_smoothing", "optim.nesterov", "optim.wd"]
    rows = build_ablation(collect([paper_vs_modern]), keys)
    assert [(r.status, r.test.mean) for r in rows] == [("scaled", 17.0), ("other", 11.5)]
    with_one = build_ablation(collect([paper_vs_modern]), [*keys, "optim.max_steps"])
    assert [r.status for r in with_one] == ["scaled", "other"]  # cosine not grouped on


def test_a_cosine_run_stays_apart_from_an_ablation_over_the_length(tmp_path: Path):
    root = tmp_path / "length"
    for seed, error in enumerate((9.0, 10.0)):
        write_run(root, seed, error, model="resnet20", digest="step")
        write_run(root, seed, error - 2, model="resnet20", digest="cosine",
                  optim__schedule="cosine")
    rows = build_ablation(collect([root]), ["optim.max_steps"])
    assert [(r.status, r.test.mean, r.table6 and r.table6.text) for r in rows] == [
        ("full", 9.5, "8.75"), ("other", 7.5, None)]  # not pooled into one row of four


def test_a_shorter_full_schedule_gets_no_table6_value(tmp_path: Path):
    """Grouped by optim.max_steps and milestones, a 32k-iteration run at schedule_scale 1
    sits beside the paper's 64k under a title that says only a paper value compares, and
    only the 64k row has Table 6 beside it."""
    root = tmp_path / "length"
    write_run(root, 0, 9.0, model="resnet20", digest="paper")
    write_run(root, 0, 10.0, model="resnet20", digest="half", steps=32000,
              optim__max_steps=32000, optim__milestones=[16000, 24000])
    rows = build_ablation(collect([root]), ["optim.max_steps", "optim.milestones"])
    assert [(r.status, r.test.mean, r.table6 and r.table6.text) for r in rows] == [
        ("full", 10.0, None), ("full", 9.0, "8.75")]
    assert report_main([str(root)]) == 0
    markdown = (root / "ablation.md").read_text()
    assert "## Full length of each row's own schedule, comparable to the paper only where " \
           "a paper value stands — CIFAR-10" in markdown
    assert "## Full schedule, comparable" not in markdown
    # grouped by its length alone, the run's other milestones keep it apart
    alone = build_ablation(collect([root]), ["optim.max_steps"])
    assert [r.status for r in alone] == ["full", "other"]


def test_other_data_sets_get_no_cifar10_numbers_and_are_named(tmp_path: Path):
    root = tmp_path / "c100"
    for seed in (0, 1):
        write_run(root, seed, 30.0 + seed, digest="c100", data__name="cifar100",
                  data__num_classes=100)
        write_run(root, seed, 6.0 + seed, digest="c10")
    rows = build_ablation(collect([root]), ["data.name"])
    assert [(r.data_name, r.table6 is None, r.he2016b is None) for r in rows] == [
        ("cifar10", False, False), ("cifar100", True, True)]
    assert report_main([str(root)]) == 0  # data.name and data.num_classes differ
    markdown = (root / "ablation.md").read_text()
    assert markdown.startswith("# Ablation over data.name, data.num_classes: test error "
                               "on CIFAR-10 and CIFAR-100")
    titles = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert titles[0] == "## Full schedule, comparable to the paper — CIFAR-10"
    assert titles[1].endswith("— CIFAR-100")
    c100 = next(line for line in markdown.splitlines() if line.startswith("| cifar100"))
    assert "| 30.50 |" in c100 and "| – | – |" in c100


def test_he2016b_table3_stands_beside_preact_164_and_1001_on_their_own_data_set(
        tmp_path: Path):
    """Table 3's pre-activation column (report/paper.py): 24.33 / 22.71 on CIFAR-100 and
    4.92 for ResNet-1001 on CIFAR-10, for every name of those nets; nothing for a net,
    unit, shortcut option or recipe it does not have."""
    root = tmp_path / "t3"
    c100 = dict(data__name="cifar100", data__num_classes=100, shortcut="B",
                placement="full_preact")
    write_run(root, 0, 25.0, model="preact_resnet164", digest="p164c100", **c100)
    write_run(root, 0, 25.5, model="resnet164_v2", digest="v2_164c100", **c100)
    write_run(root, 0, 25.7, model="resnet164", digest="v1_164c100",
              unit__placement="full_preact", **c100)
    write_run(root, 0, 23.0, model="preact_resnet1001", digest="p1001c100", **c100)
    write_run(root, 0, 23.5, model="resnet1001_v2", digest="v2_1001c100", **c100)
    write_run(root, 0, 5.0, model="preact_resnet1001", placement="full_preact", shortcut="B",
              digest="p1001c10")
    write_run(root, 0, 26.0, model="preact_resnet164", digest="reluonly",
              **{**c100, "placement": "relu_only_preact"}, unit__placement="relu_only_preact")
    write_run(root, 0, 27.0, model="preact_resnet164", digest="wd5e-4", optim__wd=5e-4, **c100)
    write_run(root, 0, 24.0, model="preact_resnet164", digest="optionC",
              **{**c100, "shortcut": "C"}, shortcut__option="C")  # projects on every unit
    write_run(root, 0, 28.0, digest="r110c100", unit__placement="full_preact",
              **c100)  # ResNet-110: not in Table 3
    write_run(root, 0, 29.0, model="preact_resnet164", digest="synthetic",
              **{**c100, "data__name": "synthetic"})
    values = {r.config_digest: he2016b_value(r) for r in collect([root])}
    assert {k: v and (v.text, v.value) for k, v in values.items()} == {
        "p164c100": ("24.33", 24.33), "v2_164c100": ("24.33", 24.33),
        "v1_164c100": ("24.33", 24.33), "p1001c100": ("22.71", 22.71),
        "v2_1001c100": ("22.71", 22.71), "p1001c10": ("4.92", 4.92), "reluonly": None,
        "wd5e-4": None, "optionC": None, "r110c100": None, "synthetic": None}
    assert values["p164c100"].source == "He 2016b Table 3, pre-activation, CIFAR-100"
    assert values["p1001c10"].source == "He 2016b Table 3, pre-activation, CIFAR-10"

    # grouped by net and data set, the model's own unit and B shortcuts do not make such a
    # run "other": they are the recipe behind He 2016b's number, which compares; a unit
    # the config chose (resnet164 unit.placement=full_preact) or option C stays "other"
    rows = build_ablation(collect([root]), ["model.name", "data.name"])
    assert [(r.status, dict(r.setting)["model.name"], r.data_name, r.seeds,
             r.he2016b and r.he2016b.text) for r in rows] == [
        ("full", "preact_resnet1001", "cifar10", [0], "4.92"),
        ("full", "preact_resnet1001", "cifar100", [0], "22.71"),
        ("full", "preact_resnet164", "cifar100", [0], "24.33"),
        ("full", "resnet1001_v2", "cifar100", [0], "22.71"),
        ("full", "resnet164_v2", "cifar100", [0], "24.33"),
        ("other", "preact_resnet164", "cifar100", [0, 0, 0], None),  # relu-only, wd, C
        ("other", "resnet110", "cifar100", [0], None),
        ("other", "resnet164", "cifar100", [0], "24.33"),
        ("other", "preact_resnet164", "synthetic", [0], None)]
    assert report_main([str(root), "--by", "model.name,data.name"]) == 0
    markdown = (root / "ablation.md").read_text()
    assert "He 2016b Table 3 gives the full pre-activation ResNet-164 and ResNet-1001" \
        in markdown and "Table 6's and He 2016b Tables 1-2's values are CIFAR-10's" in markdown
    line = next(row for row in markdown.splitlines()
                if row.startswith("| preact_resnet164 | cifar100 | 1 |"))
    assert "| 24.33 [Table 3, pre-activation, CIFAR-100] |" in line


def test_a_unit_or_shortcut_the_config_chose_never_shares_a_row_with_the_models_own(
        tmp_path: Path):
    """Grouped by model alone, ResNet-110's own unit and option A (Table 6 and He 2016b
    Table 1 beside it) stay apart from bn_after_add and an explicit option B."""
    root = tmp_path / "apart"
    write_run(root, 0, 6.0, digest="own")
    write_run(root, 0, 8.0, placement="bn_after_add", digest="bnadd",
              unit__placement="bn_after_add")
    write_run(root, 0, 7.0, shortcut="B", digest="optionB", shortcut__option="B")
    rows = build_ablation(collect([root]), ["model.name"])
    assert [(r.status, r.test.n, r.table6 and r.table6.text, r.he2016b and r.he2016b.text)
            for r in rows] == [("full", 1, "6.43 (6.61±0.16)", "6.61"),
                               ("other", 2, None, None)]


def test_runs_of_one_he2016b_case_get_its_value_without_by(tmp_path: Path, capsys):
    """Seeds of preact_resnet164 on CIFAR-100 differ in no key; table6.md has no column
    for He 2016b, so the report makes the ablation by model.name, with 24.33 beside them.
    Runs of ResNet-20 (no He 2016b case) still get none."""
    root = tmp_path / "one_case"
    for seed in (0, 1):
        write_run(root, seed, 24.0 + seed, model="preact_resnet164", placement="full_preact",
                  shortcut="B", digest="p164", data__name="cifar100", data__num_classes=100)
    assert report_main([str(root)]) == 0
    line = next(row for row in (root / "ablation.md").read_text().splitlines()
                if row.startswith("| preact_resnet164 |"))
    assert "| 2 | 0,1 | 24.50 |" in line and "| 24.33 [Table 3, pre-activation, CIFAR-100] |" \
        in line
    plain = tmp_path / "resnet20"
    for seed in (0, 1):
        write_run(plain, seed, 8.0 + seed, model="resnet20", digest="r20")
    capsys.readouterr()
    assert report_main([str(plain)]) == 0
    assert not (plain / "ablation.md").exists()
    assert "no result-defining config key differs" in capsys.readouterr().out


def test_the_preamble_names_table3_only_when_a_row_has_its_value(units: Path):
    assert report_main([str(units), "--by", "unit.placement"]) == 0
    markdown = (units / "ablation.md").read_text()
    assert "Paper values are CIFAR-10's, shown only beside CIFAR-10 runs" in markdown
    assert "Table 3" not in markdown


# ----------------------------------------------------------------- the files


def test_csv_columns_and_values(units: Path):
    assert report_main([str(units), "--by", "unit.placement"]) == 0
    with open(units / "ablation.csv") as f:
        reader = csv.DictReader(f)
        records = list(reader)
    assert reader.fieldnames == ["unit.placement", "status", "data", "setting", "n", "seeds",
                                 "test_mean", "test_std", "test_ci95_low", "test_ci95_high",
                                 "test_ci95_half", "train_mean", "train_n", "paper_table6",
                                 "paper_he2016b", "paper_he2016b_case", "paper_comparable",
                                 "iterations", "error_from", "pooled_keys", "recipe"]
    bn = records[1]
    assert (bn["unit.placement"], bn["data"], bn["n"], bn["seeds"]) == \
        ("bn_after_add", "cifar10", "3", "0 1 2")
    assert (bn["test_mean"], bn["test_std"], bn["test_ci95_half"]) == \
        ("8.5000", "0.5000", "1.2421")
    assert (bn["test_ci95_low"], bn["test_ci95_high"], bn["train_mean"]) == \
        ("7.2579", "9.7421", "4.2500")
    assert bn["iterations"] == "64000" and bn["pooled_keys"] == ""


def test_the_plots_are_written(units: Path, capsys):
    assert report_main([str(units)]) == 0
    out = capsys.readouterr().out
    for name in ("ablation_means.png", "ablation_curves.png"):
        path = units / name
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000, name
        assert str(path) in out
    # The Table 6 report is still there beside it.
    assert (units / "table6.md").exists() and (units / "fig6.png").exists()


def test_runs_that_all_share_a_setting_get_no_ablation(tmp_path: Path, capsys):
    root = tmp_path / "same"
    write_run(root, 0, 8.0)
    write_run(root, 1, 9.0)
    assert report_main([str(root)]) == 0
    assert "no ablation report" in capsys.readouterr().out
    assert not (root / "ablation.md").exists()
    assert report_main([str(root), "--by", "optim.lr"]) == 0  # asked for: one row
    with open(root / "ablation.csv") as f:
        (only,) = list(csv.DictReader(f))
    assert (only["optim.lr"], only["n"], only["test_mean"]) == ("0.1", "2", "8.5000")


# ----------------------------------------------------------------- EMA (optim.ema.decay)

# A regression check, labelled as one: the committed ablation of real runs (none with an
# EMA) regenerates byte for byte, so a change to the report that alters committed results
# must regenerate them in the same commit. The EMA's absence is asserted directly below.
COMMITTED_UNITS = Path(__file__).resolve().parents[1] / "results" / "cifar10_units_scale1-16"
REGENERATED = ("ablation.md", "ablation.csv", "table6.md", "table6.csv")


def add_ema(run_dir: Path, ema_error_pct: float, decay: float = 0.9998) -> None:
    """What optim.ema.decay adds to a finished run (loop.final_result, train_loop): the
    averaged weights' test error in result.json, and a test_ema record beside each test
    one (here 50 % at the half-way evaluation, the final error at the end)."""
    result = json.loads((run_dir / "result.json").read_text())
    result.update(ema_test_error=ema_error_pct / 100, ema_test_loss=1.0,
                  ema_weights_sha256="0" * 64, ema_decay=decay)
    (run_dir / "result.json").write_text(json.dumps(result))
    max_steps = result["max_steps"]
    with open(run_dir / "metrics.jsonl", "a") as f:
        for step, error in ((max_steps // 2, 0.5), (max_steps, ema_error_pct / 100)):
            f.write(json.dumps({"step": step, "split": "test_ema", "loss": 1.0,
                                "error": error}) + "\n")


@pytest.fixture
def modern(tmp_path: Path) -> Path:
    """ResNet-20 at 1/8: the paper's recipe (no EMA, 16 and 17 %) beside one with an EMA
    (raw 12, 14, 16 %; EMA 10.0, 10.5, 11.0 %), as issue 15's comparison."""
    root = tmp_path / "modern"
    for seed, error in enumerate((16.0, 17.0)):
        write_run(root, seed, error, model="resnet20", scale=1 / 8, digest="paper")
    for seed, (error, ema) in enumerate(((12.0, 10.0), (14.0, 10.5), (16.0, 11.0))):
        add_ema(write_run(root, seed, error, model="resnet20", scale=1 / 8, digest="ema",
                          optim__ema__decay=0.9998), ema)
    return root


def test_ema_errors_are_read_with_their_curve(modern: Path):
    runs = [r for r in collect([modern]) if r.config_digest == "ema"]
    assert [r.ema_test_error for r in runs] == pytest.approx([0.100, 0.105, 0.110])
    assert runs[1].ema_curve == [(4000, 0.5), (8000, pytest.approx(0.105))]
    assert runs[1].heldout_curve == [(4000, 0.45), (8000, pytest.approx(0.14))]  # raw apart
    paper = [r for r in collect([modern]) if r.config_digest == "paper"]
    assert [(r.ema_test_error, r.ema_curve) for r in paper] == [(None, []), (None, [])]


def test_ema_statistics_by_hand(modern: Path):
    rows = build_ablation(collect([modern]), ["optim.ema.decay"])
    paper, ema = rows  # null first
    assert paper.setting == (("optim.ema.decay", None),) and not paper.has_ema
    assert (paper.ema.n, paper.ema.mean, paper.ema_seeds) == (0, None, [])
    assert (ema.ema.n, ema.ema_seeds) == (3, [0, 1, 2])
    assert ema.ema.mean == pytest.approx(10.5)
    assert ema.ema.std == pytest.approx(0.5)  # (0.25 + 0 + 0.25) / 2
    # t(0.975, 2) · 0.5/√3 = 4.3026527 · 0.2886751
    assert ema.ema.half_width == pytest.approx(1.2420688, abs=1e-6)
    # the raw final-step error is still the test column, not the EMA's
    assert (ema.test.mean, ema.test.std) == (pytest.approx(14.0), pytest.approx(2.0))


def test_ema_columns_in_the_markdown(modern: Path):
    assert report_main([str(modern), "--by", "optim.ema.decay"]) == 0
    markdown = (modern / "ablation.md").read_text()
    lines = markdown.splitlines()
    assert ("| optim.ema.decay | n | seeds | test error mean (%) | std | 95 % CI (%) | train "
            "error at end (%) | EMA test error per seed (%) | EMA mean (%) | EMA std | EMA 95 "
            "% CI (%) | paper: Table 6 (%) | paper: He 2016b (%) | iterations | error from |"
            ) in lines
    null = next(line for line in lines if line.startswith("| null |"))
    assert "| 8.25 | – | – | – | – | (8.75: not comparable, scaled) |" in null
    ema = next(line for line in lines if line.startswith("| 0.9998 |"))
    assert ("| 14.00 | 2.00 | [9.03, 18.97] | 7.00 | 10.00,10.50,11.00 | 10.50 | 0.50 | "
            "[9.26, 11.74] | (8.75: not comparable, scaled) |") in ema
    assert "neither is chosen on the test set" in markdown
    assert "stays the primary column" in markdown


def test_a_row_pooling_runs_with_and_without_ema_shows_which(modern: Path):
    rows = build_ablation(collect([modern]), ["model.name"])
    (row,) = rows
    assert row.seeds == [0, 0, 1, 1, 2] and "optim.ema.decay" in row.pooled
    assert row.ema_seeds == [0, 1, 2] and row.ema.mean == pytest.approx(10.5)
    assert report_main([str(modern), "--by", "model.name"]) == 0
    (line,) = [x for x in (modern / "ablation.md").read_text().splitlines()
               if x.startswith("| resnet20 |")]
    # per run in the seeds column's order (within a seed, by folder: ema/ before paper/)
    assert "| 0,0,1,1,2 |" in line and "| 10.00,–,10.50,–,11.00 | 10.50 |" in line


def test_ema_csv_columns_and_values(modern: Path):
    assert report_main([str(modern), "--by", "optim.ema.decay"]) == 0
    with open(modern / "ablation.csv") as f:
        reader = csv.DictReader(f)
        records = list(reader)
    assert reader.fieldnames == [
        "optim.ema.decay", "status", "data", "setting", "n", "seeds", "test_mean",
        "test_std", "test_ci95_low", "test_ci95_high", "test_ci95_half", "train_mean",
        "train_n", "ema_seeds", "ema_errors", "ema_n", "ema_mean", "ema_std", "ema_ci95_low",
        "ema_ci95_high", "ema_ci95_half", "paper_table6", "paper_he2016b",
        "paper_he2016b_case", "paper_comparable", "iterations", "error_from", "pooled_keys",
        "recipe"]
    paper, ema = records
    assert [paper[k] for k in EMA_FIELDS] == ["", "", "0", "", "", "", "", ""]
    assert [ema[k] for k in EMA_FIELDS] == ["0 1 2", "10.0000 10.5000 11.0000", "3",
                                            "10.5000", "0.5000", "9.2579", "11.7421", "1.2421"]
    assert (ema["test_mean"], ema["test_std"]) == ("14.0000", "2.0000")


EMA_FIELDS = ["ema_seeds", "ema_errors", "ema_n", "ema_mean", "ema_std", "ema_ci95_low",
              "ema_ci95_high", "ema_ci95_half"]


def test_table6_notes_the_ema_runs_but_never_shows_their_error(modern: Path):
    assert report_main([str(modern), "--by", "optim.ema.decay"]) == 0
    table6 = (modern / "table6.md").read_text()
    assert "3 of these runs kept an EMA of the weights (optim.ema.decay)" in table6
    assert "10.50" not in table6 and "11.00" not in table6  # the EMA's mean and worst
    assert "| 14.00±2.00 |" in table6  # the raw weights', as for every run


def test_without_ema_the_committed_report_regenerates_byte_for_byte(tmp_path: Path):
    out = tmp_path / "out"
    assert report_main([str(COMMITTED_UNITS / "runs"), "--out", str(out)]) == 0
    for name in REGENERATED:
        assert (out / name).read_bytes() == (COMMITTED_UNITS / name).read_bytes(), name
    markdown = (out / "ablation.md").read_text()
    assert "EMA" not in markdown and "EMA" not in (out / "table6.md").read_text()
    with open(out / "ablation.csv") as f:
        assert next(csv.reader(f)) == ["unit.placement", *FIXED_CSV_FIELDS]


def test_an_unfinished_run_falls_back_to_its_last_ema_evaluation(tmp_path: Path):
    run_dir = tmp_path / "resnet20" / "d" / "seed=3"  # no result.json, no saved config
    run_dir.mkdir(parents=True)
    records = [{"step": 100, "split": "val", "error": 0.6, "loss": 1.0},
               {"step": 100, "split": "val_ema", "error": 0.7, "loss": 1.0},
               {"step": 200, "split": "val", "error": 0.4, "loss": 1.0},
               {"step": 200, "split": "val_ema", "error": 0.35, "loss": 1.0}]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run,) = collect([tmp_path])
    assert (run.heldout_name, run.ema_curve) == ("val", [(100, 0.7), (200, 0.35)])
    assert ema_error_of(run) == pytest.approx(35.0)
    (row,) = build_ablation([run], ["optim.lr"])
    assert (row.status, row.ema.values) == ("unfinished", [pytest.approx(35.0)])


def test_the_ema_curve_is_drawn_dotted_only_when_asked(modern: Path):
    from rescore.report.figures import draw_run, plt

    run = next(r for r in collect([modern]) if r.ema_test_error is not None)
    fig, ax = plt.subplots()
    draw_run(ax, run, "raw", "tab:blue")  # Fig. 6: training dashed, held-out solid
    assert [line.get_linestyle() for line in ax.get_lines()] == ["--", "-"]
    draw_run(ax, run, "raw", "tab:blue", ema=True)
    dotted = ax.get_lines()[-1]
    assert dotted.get_linestyle() == ":"
    assert list(dotted.get_ydata()) == pytest.approx([50.0, 10.0])
    plt.close(fig)
