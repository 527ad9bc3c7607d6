"""Issue 11 §4: a run is "full schedule, comparable to the paper" only if it trained the
paper's recipe (He et al. 2016 §4.2), not only its 64,000 iterations on CIFAR-10. Each
departure moves a run to "other", named by its config key and value, with no paper value
beside it; an EMA (which leaves training and result.json's test_error alone) and the
ResNet-110/1202 warm-up of their model groups do not. Runs are hand-written result.json
files, as in test_report.py; no training."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Optional

import pytest

from rescore.config import Config
from rescore.report.collect import Run, collect
from rescore.report.recipe import departures
from rescore.report.table6 import build_rows, compares_with_table6, section_title

from test_report import write_metrics, write_run


def config_with(model: str = "resnet20", **dotted) -> Dict:
    """The whole schema config as a run saves it (json: enums as their values), with
    `dotted` keys (optim__wd=5e-4 for optim.wd) changed; ResNet-110's holds its model
    group's warm-up (conf/model/resnet110.yaml) unless `dotted` says otherwise."""
    config = json.loads(json.dumps(asdict(Config())))
    config["model"]["name"] = model
    if model == "resnet110":
        config["optim"]["warmup"]["until_train_error"] = 0.8
    for key, value in dotted.items():
        *groups, last = key.split("__")
        node = config
        for group in groups:
            node = node.setdefault(group, {})
        node[last] = value
    return config


def one_run(root: Path, model: str = "resnet20", *, scale: float = 1.0,
            shortcut: Optional[str] = "A", placement: Optional[str] = "original",
            **dotted) -> Run:
    """A finished run of `model` (8 % test error) whose config is the schema's with
    `dotted` changed; `shortcut`/`placement` as result.json records what was built."""
    config = config_with(model, optim__schedule_scale=scale, **dotted)
    write_run(root, model, 0, 0.08, scale=scale, max_steps=int(64000 * scale),
              config=config, shortcut=shortcut, placement=placement, digest="d")
    (run,) = collect([root])
    return run


# Each departure from §4.2's recipe: (config changes, what result.json records as built,
# how the recipe names it).
DEPARTURES = {
    "mixup": (dict(data__mixup=0.2), {}, "data.mixup=0.2"),
    "cutmix": (dict(data__cutmix=1.0), {}, "data.cutmix=1.0"),
    "cutout": (dict(data__cutout=16), {}, "data.cutout=16"),
    "label smoothing": (dict(optim__label_smoothing=0.1), {}, "optim.label_smoothing=0.1"),
    "swa": (dict(optim__swa__start=48000), {},
            "optim.swa.start=48000, optim.swa.lr=0.05, optim.swa.every=null"),
    "wd": (dict(optim__wd=5e-4), {}, "optim.wd=0.0005"),
    "wd on BN": (dict(optim__wd_bn=True), {}, "optim.wd_bn=true"),
    "nesterov": (dict(optim__nesterov=True), {}, "optim.nesterov=true"),
    "lr": (dict(optim__lr=0.2), {}, "optim.lr=0.2"),
    "momentum": (dict(optim__momentum=0.95), {}, "optim.momentum=0.95"),
    "lr drop": (dict(optim__gamma=0.2), {}, "optim.gamma=0.2"),
    "batch size": (dict(data__batch_size=256), {}, "data.batch_size=256"),
    "no augmentation": (dict(data__augment=False), {}, "data.augment=false"),
    "channel std": (dict(data__normalize="channel_std"), {}, "data.normalize=channel_std"),
    "bf16": (dict(trainer__precision="mixed_bfloat16"), {},
             "trainer.precision=mixed_bfloat16"),
    "fp16": (dict(trainer__precision="mixed_float16"), {}, "trainer.precision=mixed_float16"),
    "keras BN": (dict(model__batchnorm="keras"), {}, "model.batchnorm=keras"),
    "shortcut B": (dict(shortcut__option="B"), dict(shortcut="B"), "shortcut.option=B"),
    "shortcut C": (dict(shortcut__option="C"), dict(shortcut="C"), "shortcut.option=C"),
    "bn after add": (dict(unit__placement="bn_after_add"), dict(placement="bn_after_add"),
                     "unit.placement=bn_after_add"),
    "full preact": (dict(unit__placement="full_preact"), dict(placement="full_preact"),
                    "unit.placement=full_preact"),
    "1x1 shortcut": (dict(unit__shortcut="conv1x1"), {}, "unit.shortcut=conv1x1"),
    "builder arg": (dict(model__kwargs__stem="imagenet"), {}, "model.kwargs.stem=imagenet"),
    "warm-up on ResNet-20": (dict(optim__warmup__until_train_error=0.8), {},
                             "optim.warmup.until_train_error=0.8"),
    "fixed warm-up on ResNet-20": (dict(optim__warmup__steps=400, optim__warmup__lr=0.02),
                                   {}, "optim.warmup.steps=400, optim.warmup.lr=0.02"),
}


@pytest.mark.parametrize("name", list(DEPARTURES))
def test_each_departure_moves_a_64k_cifar10_run_out_of_full(tmp_path: Path, name: str):
    dotted, built, text = DEPARTURES[name]
    run = one_run(tmp_path, **dotted, **built)
    assert (run.status, run.max_steps, run.data_name) == ("other", 64000, "cifar10")
    assert run.recipe == ("CIFAR-10, trained on 50,000 images; 64,000 iterations; not the "
                          f"paper's recipe: {text}")
    (row,) = build_rows([run])
    assert row.status == "other" and row.paper is None  # no 8.75 % beside it
    assert section_title(row).startswith("Other runs (not the paper's data, schedule or "
                                         "training recipe), NOT comparable")
    assert section_title(row).endswith(text)


def test_several_departures_are_all_named(tmp_path: Path):
    run = one_run(tmp_path, optim__wd=5e-4, data__cutout=16, optim__nesterov=True,
                  optim__ema__decay=0.9998)
    assert run.status == "other"
    assert run.recipe.endswith("; not the paper's recipe: data.cutout=16, "
                               "optim.nesterov=true, optim.wd=0.0005")  # the EMA is not


def test_fig6_labels_a_curve_off_the_papers_recipe(tmp_path: Path):
    from rescore.report.figures import _fig6_label

    run = one_run(tmp_path, optim__wd=5e-4)
    assert _fig6_label(run, "ResNet") == ("ResNet-20 (CIFAR-10, 64000 it.) (not the paper's "
                                          "recipe)")


def test_a_departure_at_a_scaled_schedule_is_other_not_scaled(tmp_path: Path):
    paper = one_run(tmp_path / "paper", scale=1 / 32)
    assert paper.status == "scaled" and build_rows([paper])[0].paper.error == 8.75
    cutout = one_run(tmp_path / "cutout", scale=1 / 32, data__cutout=16)
    assert cutout.status == "other" and build_rows([cutout])[0].paper is None
    assert cutout.recipe == ("CIFAR-10, trained on 50,000 images; 2,000 iterations "
                             "(schedule_scale=1/32); not the paper's recipe: data.cutout=16")


@pytest.mark.parametrize("model, dotted, error", [
    ("resnet20", {}, 8.75),  # the schema's defaults: the paper's recipe
    ("resnet20", dict(optim__ema__decay=0.9998), 8.75),  # test_error is the raw weights'
    ("resnet20", dict(data__crop_padding="mean"), 8.75),  # the paper does not say
    ("resnet20", dict(shortcut__option="A", unit__placement="original"), 8.75),  # explicit
    ("resnet20", dict(trainer__jit_compile=True, trainer__deterministic=True), 8.75),
    ("resnet110", {}, 6.43),  # with its model group's warm-up: 0.01 until 80 % error
    ("resnet1202", dict(optim__warmup__until_train_error=0.8), 7.93),  # as its group sets
])
def test_the_papers_recipe_stays_full_with_the_paper_beside_it(tmp_path: Path, model,
                                                                 dotted, error):
    run = one_run(tmp_path, model, **dotted)
    assert run.departures == () and run.status == "full"
    assert run.recipe == "CIFAR-10, trained on 50,000 images; 64,000 iterations"
    (row,) = build_rows([run])
    assert row.status == "full" and row.paper.error == error
    assert section_title(row) == ("Full schedule, comparable to the paper: CIFAR-10, "
                                  "trained on 50,000 images; 64,000 iterations")


@pytest.mark.parametrize("dotted, text", [
    (dict(optim__warmup__until_train_error=None), "optim.warmup.until_train_error=null"),
    (dict(optim__warmup__until_train_error=0.5), "optim.warmup.until_train_error=0.5"),
    (dict(optim__warmup__lr=0.02), "optim.warmup.lr=0.02"),
    (dict(optim__warmup__steps=400), "optim.warmup.steps=400"),
])
def test_resnet110_without_the_papers_warmup_is_other(tmp_path: Path, dotted, text):
    run = one_run(tmp_path, "resnet110", **dotted)
    assert run.status == "other" and run.recipe.endswith(f"not the paper's recipe: {text}")


def test_a_models_own_architecture_that_is_not_the_papers_says_so(tmp_path: Path):
    """A pre-activation net built as its family's own (config unset): B and full_preact."""
    run = one_run(tmp_path, "preact_resnet110", shortcut="B", placement="full_preact")
    assert run.status == "other"
    assert run.recipe.endswith("not the paper's recipe: shortcut.option=B "
                               "(preact_resnet110's own), unit.placement=full_preact "
                               "(preact_resnet110's own)")


def test_plain_nets_have_no_shortcut_to_depart_from(tmp_path: Path):
    run = one_run(tmp_path, "plain20", shortcut=None, placement=None)
    assert run.departures == () and run.status == "full"
    assert not compares_with_table6(run)  # no Table-6 row, and no option A


def test_a_run_without_config_keeps_its_old_class(tmp_path: Path):
    write_run(tmp_path, "resnet20", 0, 0.09, config={})
    (run,) = collect([tmp_path])
    assert run.departures is None and run.status == "other"
    assert run.recipe == "data set unknown (no config); 64,000 iterations"
    assert build_rows([run])[0].paper is None


def test_table6_asks_for_option_a_as_the_ablation_does(tmp_path: Path):
    """Table 6 is option A's. With no shortcut recorded (a run still training, an old
    result.json) the config decides: unset is a Table-6 net's own, A; a configured B is
    not; option B as built is a departure."""
    unset = one_run(tmp_path / "unset", shortcut=None)
    assert unset.departures == () and compares_with_table6(unset)
    assert build_rows([unset])[0].paper is not None
    configured_b = one_run(tmp_path / "configured_b", shortcut=None, shortcut__option="B")
    assert not compares_with_table6(configured_b)
    assert build_rows([configured_b])[0].paper is None
    option_b = one_run(tmp_path / "b", shortcut="B")
    assert option_b.departures == (("shortcut.option",
                                    "shortcut.option=B (resnet20's own)"),)
    assert build_rows([option_b])[0].paper is None
    assert compares_with_table6(one_run(tmp_path / "a", shortcut="A"))


def test_departures_are_read_from_a_hydra_config_too(tmp_path: Path):
    """An unfinished run (no result.json) named by its .hydra/config.yaml."""
    live = tmp_path / "resnet20" / "live" / "seed=0"
    (live / ".hydra").mkdir(parents=True)
    (live / ".hydra" / "config.yaml").write_text(
        "model:\n  name: resnet20\nshortcut:\n  option: A\nseed: 0\ndata:\n  name: cifar10\n"
        "  cutout: 16\noptim:\n  max_steps: 64000\n  milestones: [32000, 48000]\n"
        "  wd: 0.0005\n")
    write_metrics(live, [(100, 0.6, 0.65)])
    (run,) = collect([tmp_path])
    assert run.status == "unfinished"
    assert run.recipe.endswith("not the paper's recipe: data.cutout=16, optim.wd=0.0005")


# ------------------------------------------- the shipped configs against the paper's recipe

def composed(*overrides: str) -> Dict:
    """The config `python -m rescore <overrides>` composes, as a plain dict (Hydra's own
    node dropped), without building anything."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from rescore.config import CONF_DIR, register_resolvers, register_schemas

    register_schemas()
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    plain = OmegaConf.to_container(cfg, resolve=False)
    plain.pop("hydra", None)
    return OmegaConf.to_container(OmegaConf.create(plain), resolve=True)


@pytest.mark.parametrize("model", ["resnet20", "resnet32", "resnet44", "resnet56",
                                   "resnet110", "resnet1202"])
def test_each_table6_model_group_composes_the_papers_recipe(model: str):
    """conf/model/resnet110.yaml and resnet1202.yaml warm up as the paper (§4.2), the
    others not at all: the model groups and paper.WARMUP_MODELS agree."""
    assert departures(model, "A", "original", composed(f"model={model}")) == ()


def test_experiment_modern_names_its_departures_and_not_its_ema():
    config = composed("experiment=modern")
    assert [text for _, text in departures("resnet20", "A", "original", config)] == [
        "data.cutout=16", "optim.nesterov=true", "optim.wd=0.0005",
        "optim.label_smoothing=0.1"]  # its cosine schedule is Run.schedule_text's


def test_shipped_shortcut_b_and_unit_groups_depart():
    config = composed("shortcut=B", "unit=bn_after_add")
    assert [text for _, text in departures("resnet20", "B", "bn_after_add", config)] == [
        "shortcut.option=B", "unit.placement=bn_after_add"]


def test_grouping_by_swa_start_sets_aside_swas_own_settings_too(tmp_path: Path):
    """optim.swa.lr and .every are departures only because SWA is on: an ablation over
    optim.swa.start must not push its SWA rows into 'other' for them."""
    run = one_run(tmp_path, optim__swa__start=48000)
    assert run.status == "other"
    assert run.status_apart_from(["optim.swa.start"]) == "full"
    assert run.status_apart_from(["optim.swa.lr"]) == "other"


def test_a_validation_split_is_a_departure(tmp_path: Path):
    """Table 6's models trained on all 50k images; the 45k/5k split only chose the schedule."""
    run = one_run(tmp_path, data__val_split=5000)
    assert ("data.val_split", "data.val_split=5000") in run.departures
    assert run.status == "other" and build_rows([run])[0].paper is None
