"""Overrides that Hydra would accept and then fail on (issue 18 §4): deletions, nulls, `+`
on what exists, and lines its parser cannot read. Each is exit 2 with one line saying what
is valid, before anything starts. Checked for every group and every schema field, in
process (no TensorFlow), and through the CLI for the exit status."""

import dataclasses
import typing

import pytest

from _faults import run_cli
from rescore.config import Config
from rescore.errors import ConfigError
from rescore.overrides import check_overrides, config_groups, group_options, optional_groups


def schema_fields(node=Config, prefix=""):
    """Every dotted field of the schema, nested groups included."""
    hints = typing.get_type_hints(node)
    for f in dataclasses.fields(node):
        dotted = prefix + f.name
        yield dotted, hints[f.name]
        if dataclasses.is_dataclass(hints[f.name]):
            yield from schema_fields(hints[f.name], dotted + ".")


def refusal(*overrides: str) -> str:
    with pytest.raises(ConfigError) as raised:
        check_overrides(list(overrides))
    return str(raised.value)


def test_the_groups_and_their_optional_ones_are_read_from_conf():
    assert config_groups() == {"data", "experiment", "hydra", "model", "optim", "shortcut",
                               "trainer", "unit"}
    assert optional_groups() == {"experiment"}
    assert group_options("shortcut") == ["A", "B", "C", "default"]


@pytest.mark.parametrize("dotted", [d for d, _ in schema_fields() if d not in config_groups()])
def test_no_schema_field_can_be_deleted(dotted):  # (a group is refused as a group, below)
    assert f"'~{dotted}': a schema field can be set but not deleted" in refusal(f"~{dotted}")


def test_a_deleted_field_is_shown_with_its_default_as_it_would_be_typed():
    assert refusal("~seed").endswith("set it instead, e.g. seed=0 (its default)")
    assert "e.g. optim.milestones=[32000,48000] (its default)" in refusal("~optim.milestones")
    assert "e.g. data.root=null (its default)" in refusal("~data.root")
    assert "e.g. optim.nesterov=false (its default)" in refusal("~optim.nesterov")
    assert "set the fields under it instead" in refusal("~optim.warmup")


@pytest.mark.parametrize("dotted", [d for d, t in schema_fields()
                                    if type(None) not in typing.get_args(t) and t is not typing.Any
                                    and not dataclasses.is_dataclass(t)])
def test_null_for_a_field_that_must_have_a_value(dotted):
    assert f"field '{dotted}' is not Optional" in refusal(f"{dotted}=null")


def test_null_for_the_untyped_schedule_scale_is_caught_by_the_config_check(compose_config):
    from rescore.config import to_settings

    with pytest.raises(ConfigError, match="schedule_scale None is not a number or a fraction"):
        to_settings(compose_config(["experiment=smoke", "optim.schedule_scale=null"]))


@pytest.mark.parametrize("group", ["data", "model", "optim", "shortcut", "trainer", "unit"])
def test_a_group_a_run_needs_cannot_be_deleted_or_nulled(group):
    options = ", ".join(group_options(group))
    assert refusal(f"~{group}") == (f"'~{group}' removes the {group} group, but a run needs "
                                    f"one of its options: {options}")
    assert refusal(f"{group}=null") == (f"'{group}=null': the {group} group needs one of its "
                                        f"options: {options}")


def test_the_optional_experiment_group_is_left_out_by_deletion_not_null():
    check_overrides(["~experiment"])
    assert "delete it with '~experiment'" in refusal("experiment=null")


@pytest.mark.parametrize("line, fix", [("+seed=1", "'seed=1'"), ("+optim.lr=0.2", "'optim.lr=0.2'"),
                                       ("+model=resnet56", "'model=resnet56'"),
                                       ("+experiment=smoke", "'experiment=smoke'")])
def test_adding_what_the_config_already_has_says_how_to_set_it(line, fix):
    assert refusal(line).endswith(f"set it with {fix} instead") or \
        refusal(line).endswith(f"choose it with {fix} instead")


def test_forced_adds_and_free_form_entries_pass():
    check_overrides(["++seed=3", "++optim.lr=0.05", "+model.kwargs.stem=cifar",
                     "~model.kwargs.stem"])


@pytest.mark.parametrize("argv", [["++optim.lrr=1"], ["++trainer.bogus=1"], ["++data.x=1"],
                                  ["++model.foo=1"], ["++shortcut.opt=A"], ["++sed=1"],
                                  ["++unit.gate=-6"]])
def test_forced_adds_of_unknown_keys_are_refused_in_every_group(argv):
    assert "unknown config key" in refusal(*argv)


@pytest.mark.parametrize("line, fragment", [
    ("optim.lr=[", "cannot parse the override 'optim.lr=['"),
    ("foo", "cannot parse the override 'foo'"),
    ("hydra.run.dir=outputs/x/seed=0.restart1", "quote a value holding '='"),
])
def test_an_unparsable_override_is_a_config_error(line, fragment):
    assert fragment in refusal(line)


@pytest.mark.parametrize("override, fragment", [
    ("~seed", "'~seed': a schema field can be set but not deleted"),
    ("optim=null", "'optim=null': the optim group needs one of its options: paper"),
    ("foo", "cannot parse the override 'foo'"),
])
def test_the_cli_exits_2_with_one_line_and_no_traceback(tmp_path, override, fragment):
    proc = run_cli(["experiment=smoke", override, f"out_root={tmp_path / 'out'}"],
                   cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.count("rescore: error:") == 1 and fragment in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("line, sweep", [("model=[resnet20,resnet56]", "model=resnet20,resnet56"),
                                         ("experiment=[smoke,modern]", "experiment=smoke,modern"),
                                         ("shortcut=[A,B]", "shortcut=A,B")])
def test_a_list_for_a_group_is_refused_with_the_sweep_it_meant(line, sweep):
    """Hydra would merge the options into one config (ResNet-110's warm-up on ResNet-20)."""
    assert refusal(line) == (f"'{line}': the {line.split('=')[0]} group takes one option (a "
                             f"list would merge them into one run); to run each, sweep them: "
                             f"python -m rescore -m {sweep}")


def test_a_sweep_without_multirun_says_to_add_m():
    assert refusal("seed=0,1").startswith("'seed=0,1' is a sweep, which needs a multirun: "
                                          "put -m before the overrides")
    check_overrides(["-m", "seed=0,1"])
    check_overrides(["hydra.mode=MULTIRUN", "seed=0,1"])  # Hydra reads its mode from there
    assert refusal("name=a,b").endswith("past the shell too: \"key='a,b'\"")
    check_overrides(["--multirun", "model=resnet20,resnet32", "shortcut=A,B"])
