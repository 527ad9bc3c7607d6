"""Defaults in one place (issue 12 §2): the schema holds every default, conf/ files list
only what differs, choices are Enums that fail at composition, and none of this moves an
existing run's folder."""

import json
from dataclasses import asdict

import pytest
from omegaconf import OmegaConf

from rescore.config import Config, Precision, config_digest, to_settings

from rescore.config import CONF_DIR as CONF
# A group option's file may name what it selects, even when that is the default.
IDENTITY = {("model", "name"), ("data", "name"), ("shortcut", "option"),
            ("unit", "placement")}
SCHEMA = OmegaConf.to_container(OmegaConf.structured(Config))


def leaves(node, prefix=()):
    for key, value in node.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def conf_files():
    return sorted(p for p in CONF.rglob("*.yaml") if "hydra" not in p.parts
                  and p.name != "config.yaml")


@pytest.mark.parametrize("path", conf_files(), ids=lambda p: str(p.relative_to(CONF)))
def test_conf_files_list_only_what_differs_from_the_schema(path):
    values = OmegaConf.to_container(OmegaConf.load(path)) or {}
    values.pop("defaults", None)
    values.pop("hydra", None)
    is_global = "# @package _global_" in path.read_text()
    root = () if is_global else (path.parent.name,)
    for key, value in leaves(values):
        full = root + key
        if full in IDENTITY:
            continue
        default = SCHEMA
        for part in full:
            default = default.get(part, "<not in schema>") if isinstance(default, dict) else None
        assert value != default, f"{path.name}: {'.'.join(full)}={value!r} is the schema's default"


@pytest.mark.slow
def test_the_digest_of_existing_run_folders_does_not_move(compose_config):
    """Folders started before this redesign must be found again to resume: the paper's
    default run, the smoke run and a scaled run (values seen in run folders on disk)."""
    def digest(*overrides):
        return config_digest(asdict(to_settings(compose_config(list(overrides)))))

    assert digest() == "44136fa355"
    assert digest("experiment=smoke") == "1c44adc463"
    assert digest("optim.schedule_scale=1/320") == "0cd0ade35e"
    assert digest("optim.schedule_scale=1/32") == "f41c894454"  # results/cifar10_scale1-32


@pytest.mark.slow
def test_equal_schedule_scales_share_a_run_folder(compose_config):
    """However the scale is spelt, the same value is the same run (and resumes as one)."""
    def digest(*overrides):
        return config_digest(asdict(to_settings(compose_config(list(overrides)))))

    assert digest("optim.schedule_scale=0.03125") == digest("optim.schedule_scale=2/64") \
        == digest("optim.schedule_scale=1/32") == "f41c894454"
    assert digest("optim.schedule_scale=1.0") == digest("optim.schedule_scale=1/1") \
        == digest() == "44136fa355"
    assert digest("optim.schedule_scale=0.5") != digest("optim.schedule_scale=0.25")
    assert digest("trainer.precision=mixed_bfloat16") == digest("trainer.precision=mixed_bfloat16")
    assert digest("trainer.precision=mixed_bfloat16") != digest()


@pytest.mark.parametrize("override, valid", [
    ("trainer.precision=float64", "float32, mixed_bfloat16, mixed_float16"),
    ("trainer.strategy=mirored", "default, mirrored"),
    ("trainer.resume=sometimes", "auto, never"),
    ("data.normalize=zca", "pixel_mean, channel_std"),
    ("data.crop_padding=gray", "black, mean"),
    ("data.name=cifar100x", "cifar10, cifar100, synthetic"),
    ("model.batchnorm=sync", "fused, keras"),
    ("shortcut.option=D", "A, B, C"),
    ("unit.placement=preact", "original, bn_after_add, relu_before_add, relu_only_preact, "
                              "full_preact"),
    ("unit.shortcut=gating", "identity, constant_scaling, exclusive_gating, "
                             "shortcut_only_gating, conv1x1, dropout"),
])
def test_a_wrong_choice_fails_before_composition_naming_the_valid_ones(override, valid):
    from rescore.errors import ConfigError
    from rescore.overrides import check_overrides

    with pytest.raises(ConfigError) as raised:
        check_overrides([override])
    assert f"expected one of [{valid}]" in str(raised.value)


def test_choices_reach_the_code_as_plain_strings(compose_config):
    s = to_settings(compose_config(["trainer.precision=mixed_bfloat16"]))
    assert s.trainer.precision == "mixed_bfloat16" and s.trainer.precision is Precision.mixed_bfloat16
    assert f"{s.trainer.precision}" == str(s.trainer.precision) == "mixed_bfloat16"
    assert {"mixed_bfloat16": 1}[s.trainer.precision] == 1
    assert json.dumps(asdict(s)["trainer"]["precision"]) == '"mixed_bfloat16"'
