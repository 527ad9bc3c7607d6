"""Every config group composes against the schema, and the run folder follows the config."""


import pytest
from omegaconf import OmegaConf

from rescore.config import config_digest, to_settings
from rescore.models import resolved_shortcut

from rescore.config import CONF_DIR as CONF
GROUPS = ["model", "data", "optim", "shortcut", "unit", "trainer"]


def options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group, option",
                         [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes_and_checks(compose_config, group, option):
    cfg = compose_config([f"{group}={option}"])
    settings = to_settings(cfg)
    if group == "model":
        assert settings.model.name == option
    if group == "shortcut":
        assert settings.shortcut.option == (None if option == "default" else option)
    if group == "unit":
        assert settings.unit.placement == (None if option == "default" else option)


def test_defaults_are_the_paper_recipe(compose_config):
    s = to_settings(compose_config())
    assert (s.model.name, s.data.name) == ("resnet20", "cifar10")
    assert s.shortcut.option is None  # the family's own: A for CIFAR v1
    assert resolved_shortcut(s.model.name, s.shortcut.option) == "A"
    assert (s.optim.lr, s.optim.momentum, s.optim.wd) == (0.1, 0.9, 1e-4)
    assert list(s.optim.milestones) == [32000, 48000] and s.optim.max_steps == 64000
    assert s.data.batch_size == 128 and s.data.augment and s.data.normalize == "pixel_mean"
    assert s.optim.wd_bn is False and s.optim.warmup.until_train_error is None


@pytest.mark.parametrize("model", ["resnet110", "resnet1202"])
def test_deep_nets_warm_up_as_in_the_paper(compose_config, model):
    s = to_settings(compose_config([f"model={model}"]))
    assert s.optim.warmup.until_train_error == 0.8 and s.optim.warmup.lr == 0.01


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_composes(compose_config, experiment):
    s = to_settings(compose_config([f"experiment={experiment}"]))
    assert s.name == experiment


def test_smoke_experiment_lists_only_what_differs(compose_config):
    s = to_settings(compose_config(["experiment=smoke"]))
    assert (s.model.name, s.data.name, s.optim.max_steps) == ("resnet8", "synthetic", 40)
    assert s.optim.lr == 0.1  # untouched values still come from the paper recipe


def test_schedule_scale_accepts_a_fraction(compose_config):
    s = to_settings(compose_config(["optim.schedule_scale=1/32"]))
    assert s.optim.schedule_scale == "1/32"


def test_run_folder_is_a_function_of_config_and_seed(compose_config):
    def run_dir(*overrides):
        cfg = compose_config(list(overrides))
        return OmegaConf.to_container(cfg.hydra.run, resolve=True)["dir"]

    base = run_dir()
    assert base.startswith("outputs/default/resnet20/") and base.endswith("/seed=0")
    assert run_dir() == base
    assert run_dir("seed=1") == base.replace("seed=0", "seed=1")
    assert run_dir("optim.wd=5e-4") != base  # a different recipe, a different folder
    assert run_dir("trainer.log_every=7") == base  # watching differently is the same run


def test_digest_ignores_watch_keys_only():
    cfg = {"optim": {"lr": 0.1}, "trainer": {"log_every": 1, "jit_compile": False},
           "seed": 0, "name": "x"}
    same = {**cfg, "trainer": {"log_every": 99, "jit_compile": False}, "seed": 3, "name": "y"}
    other = {**cfg, "trainer": {"log_every": 1, "jit_compile": True}}
    assert config_digest(cfg) == config_digest(same) != config_digest(other)


@pytest.mark.parametrize("override, message", [
    ("optim.lr=-0.1", "optim.lr must be > 0"),
    ("optim.wd=-1e-4", "optim.wd must be >= 0"),
    ("data.batch_size=0", "data.batch_size must be > 0"),
    ("optim.milestones=[48000,32000]", "strictly increasing"),
    ("optim.milestones=[32000,70000]", "must lie below optim.max_steps=64000"),
    ("model.name=resnet21", "Registered:"),
])
def test_bad_values_fail_at_start_up(compose_config, override, message):
    with pytest.raises(ValueError, match=message):
        to_settings(compose_config([override]))


def test_milestones_past_max_steps_say_how_to_fit_or_scale_them(compose_config):
    """`optim.max_steps=2` alone: one problem, saying the milestones must lie below
    max_steps and how to fix it (not that schedule_scale=1 'collapses' them)."""
    from rescore.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        to_settings(compose_config(["optim.max_steps=2"]))
    assert str(err.value) == (
        "invalid config:\n  - optim.milestones [32000, 48000] must lie below "
        "optim.max_steps=2 (and above 0): the rate drops at each milestone, before the run "
        "ends. Give milestones that fit, e.g. optim.milestones=[1] (1/2 and 3/4 of "
        "max_steps, as in the paper), or keep the paper's max_steps and milestones and "
        "shorten the whole schedule with optim.schedule_scale, e.g. "
        "optim.schedule_scale=1/32: 2000 iterations, milestones [1000, 1500]")


def test_a_scale_that_merges_the_milestones_names_what_it_made_of_them(compose_config):
    from rescore.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        to_settings(compose_config(["optim.schedule_scale=1/40000"]))
    assert str(err.value) == (
        "invalid config:\n  - optim.schedule_scale=1/40000 turns max_steps 64000 and "
        "milestones [32000, 48000] into 2 and [1, 1]: the milestones must stay distinct and "
        "below max_steps; use a larger optim.schedule_scale")


@pytest.mark.parametrize("model, expected", [("resnet56", "A"), ("resnet164", "B"),
                                             ("preact_resnet110", "B"), ("plain20", None)])
def test_default_shortcut_is_the_family_default(compose_config, model, expected):
    s = to_settings(compose_config([f"model={model}"]))
    assert resolved_shortcut(s.model.name, s.shortcut.option) == expected


def test_digest_counts_only_values_that_differ_from_the_schema():
    from dataclasses import asdict

    from rescore.config import Config

    defaults = asdict(Config())
    assert config_digest(defaults) == config_digest({})  # defaults add nothing
    # a config written before some option existed lands in the same folder
    older = {**defaults, "trainer": {k: v for k, v in defaults["trainer"].items()
                                     if k != "precision"}}
    assert config_digest(older) == config_digest(defaults)
    changed = {**defaults, "optim": {**defaults["optim"], "wd": 5e-4}}
    assert config_digest(changed) != config_digest(defaults)
