"""Bad input fails at start-up with a message that says what is wrong (issue 4).

Unknown keys, unknown options and wrong types are caught before Hydra composes
(rescore/overrides.py: no TensorFlow is loaded, so these CLI calls are quick); values
that type-check but cannot be right are caught by config.check_config before any data
or model is touched. Exit status 2 in both cases, the message on stderr, no traceback.
"""

import pytest

from _faults import run_cli


def assert_clean_failure(proc, *fragments):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize("override, fragments", [
    # Hydra alone accepts nothing here either, but says neither what exists nor what was meant
    ("+optim.lrr=0.2", ["unknown config key 'optim.lrr'", "Did you mean 'optim.lr'?",
                        "Valid keys in optim: cosine_warmup_steps, ema, gamma, "
                        "label_smoothing, lr,"]),
    ("trainer.checkpoint_evry=5", ["Did you mean 'trainer.checkpoint_every'?"]),
    ("optim.warmup.lrr=0.01", ["Did you mean 'optim.warmup.lr'?",
                               "Valid keys in optim.warmup: lr, max_steps, steps,"]),
    ("sed=1", ["unknown config key 'sed'", "Did you mean 'seed'?",
               "Valid keys at the top level: data, model, name, optim, out_root, seed,"]),
    # a key as typed under another group: EMA/SWA sit in optim (they scale with the
    # schedule), cutout in data; the hint names where, and a group's keys
    ("trainer.ema.decay=0.9998", ["unknown config key 'trainer.ema.decay'",
                                  "It is 'optim.ema.decay'.",
                                  "Valid keys in trainer: checkpoint_every,"]),
    ("optim.cutout=16", ["It is 'data.cutout'."]),
    ("trainer.ema.dcay=0.9998", ["It is 'optim.ema' (its keys: decay)."]),
    ("trainer.name=x", ["It exists as 'name', 'model.name', 'data.name'."]),
    ("model.shortcut=B", ["'shortcut' is a config group of its own: shortcut=<option>"]),
    ("optim.lr=abc", ["optim.lr='abc'", "could not be converted to Float"]),
    ("model=resnet9", ["unknown model 'resnet9'", "Did you mean model=resnet8?",
                       "resnet20, resnet32"]),
    ("shortcut=D", ["unknown shortcut 'D'", "Available: A, B, C"]),
    ("experiment=smok", ["Did you mean experiment=smoke?"]),
])
def test_unknown_keys_options_and_types_are_named(tmp_path, override, fragments):
    assert_clean_failure(run_cli([override], cwd=tmp_path, timeout=120), *fragments)


def test_an_unknown_key_inside_a_sweep_stops_the_whole_multirun(tmp_path):
    proc = run_cli(["-m", "experiment=smoke", "optim.lrr=0.1,0.2"], cwd=tmp_path, timeout=120)
    assert_clean_failure(proc, "unknown config key 'optim.lrr'")
    assert not (tmp_path / "outputs").exists()  # no job started


@pytest.mark.slow
def test_out_of_range_values_fail_before_training(tmp_path):
    """All problems at once, with the values given; nothing is created or trained."""
    proc = run_cli(["experiment=smoke", f"out_root={tmp_path / 'out'}", "optim.lr=-0.1",
                    "optim.wd=-1e-4", "data.batch_size=0", "optim.milestones=[30,20]",
                    "model.name=resnet21"], cwd=tmp_path, timeout=300)
    assert_clean_failure(proc, "invalid config:", "optim.lr must be > 0, got -0.1",
                         "optim.wd must be >= 0, got -0.0001",
                         "data.batch_size must be > 0, got 0",
                         "optim.milestones must be strictly increasing, got [30, 20]",
                         "unknown model 'resnet21'", "Registered: ")
    assert not list((tmp_path / "out").rglob("metrics.jsonl"))


@pytest.mark.parametrize("overrides, message", [
    (["optim.lr=-0.1"], "optim.lr must be > 0, got -0.1"),
    (["optim.lr=0"], "optim.lr must be > 0, got 0.0"),
    (["optim.wd=-1e-4"], "optim.wd must be >= 0, got -0.0001"),
    (["data.batch_size=0"], "data.batch_size must be > 0, got 0"),
    (["optim.milestones=[30,20]"], "optim.milestones must be strictly increasing"),
    (["optim.milestones=[20,20]"], "optim.milestones must be strictly increasing"),
    (["optim.milestones=[20,50]"], "optim.milestones [20, 50] must lie below "
                                   "optim.max_steps=40 (and above 0)"),
    (["optim.momentum=1.0"], "optim.momentum must be in [0, 1)"),
    (["model.name=resnet21"], "unknown model 'resnet21'. Did you mean 'resnet32'?"),
    (["trainer.signal_exit_code=0"], "trainer.signal_exit_code must be in 1..255, got 0"),
    (["trainer.checkpoint_every=0"], "trainer.checkpoint_every must be > 0, got 0"),
    (["data.val_split=512"], "data.val_split must be in [0, 512): synthetic has 512 training "
                             "images, got 512"),
    (["data=cifar10", "data.val_split=50000"], "data.val_split must be in [0, 50000): cifar10 "
                                               "has 50000 training images, got 50000"),
    (["optim.schedule_scale=inf"], "schedule_scale inf is not a number or a fraction"),
    (["optim.schedule_scale=true"], "schedule_scale True is not a number or a fraction"),
])
def test_check_config_names_the_bad_value(compose_config, overrides, message):
    # (a wrong choice, e.g. trainer.resume=sometimes, fails earlier, at composition:
    # tests/test_config_defaults.py)
    from rescore.config import to_settings
    from rescore.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        to_settings(compose_config(["experiment=smoke", *overrides]))
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)  # callers that caught ValueError still do


def test_good_overrides_pass_the_pre_check():
    from rescore.overrides import check_overrides

    check_overrides(["experiment=smoke", "model=resnet56", "optim.lr=0.05", "+model.kwargs.x=1",
                     "optim.milestones=[10,20]", "seed=1,2", "hydra.run.dir=/tmp/x",
                     "data.root=null", "optim.schedule_scale=1/32", "--multirun"])


@pytest.mark.slow
@pytest.mark.parametrize("placed, fragments", [
    (None, ["CIFAR-10 not found and download=False.", "Put CIFAR-10 under"]),
    (b"not a tarball", ["cifar-10-python.tar.gz", "md5"]),  # a corrupt pre-placed archive
])
def test_missing_or_corrupt_data_is_exit_7_with_where_to_put_it(tmp_path, placed, fragments):
    """A newcomer without the data (or with a bad copy) gets what to do, not a traceback."""
    root = tmp_path / "data"
    root.mkdir()
    if placed is not None:
        (root / "cifar-10-python.tar.gz").write_bytes(placed)
    proc = run_cli([f"data.root={root}", "data.download=false", "optim.max_steps=2",
                    "optim.milestones=[1]", f"out_root={tmp_path / 'out'}"],
                   cwd=tmp_path, timeout=300)
    assert proc.returncode == 7, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr[-2000:]
    # printed once: on stderr, not a second time by the logger on stdout
    assert proc.stderr.count("rescore: error:") == 1
    assert not any(fragment in proc.stdout for fragment in fragments), proc.stdout[-2000:]
    (run_log,) = (tmp_path / "out").rglob("*.log")  # and kept in the run's log file
    logged = run_log.read_text()
    assert "[rescore][ERROR] - " in logged and all(f in logged for f in fragments)


@pytest.mark.parametrize("milestones", ["[30,20]", "[20,20]"])
def test_unsorted_milestones_are_not_blamed_on_the_schedule_scale(compose_config, milestones):
    from rescore.config import to_settings
    from rescore.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        to_settings(compose_config(["experiment=smoke", f"optim.milestones={milestones}"]))
    assert "strictly increasing" in str(raised.value)
    assert "schedule_scale" not in str(raised.value)  # a larger scale would not help


def test_model_kwargs_the_builder_does_not_take_are_a_config_error(compose_config):
    from rescore.config import to_settings
    from rescore.errors import ConfigError
    from rescore.train.build import run_model

    c = to_settings(compose_config(["experiment=smoke", "+model.kwargs.stem=cifar"]))
    with pytest.raises(ConfigError) as raised:
        run_model(c)
    assert str(raised.value).startswith("model.kwargs {'stem': 'cifar'} do not fit resnet8: ")
    assert "stem" in str(raised.value).split(": ", 1)[1]
