"""The modern switches in whole (tiny) runs (issue 15): a run stopped and resumed with
EMA and mixup on (and one with SWA and cutout) ends bitwise where the uninterrupted run
does, EMA weights included; EMA alone leaves the training trajectory the paper's; every
switch changes what is trained.

Runs train in this process (tests/_faults.py), stopped through the real SIGTERM path."""

import json

import numpy as np
import pytest

from _faults import checkpoint_steps, tiny, train_in_process as train, train_steps

MAX_STEPS, EVERY, STOP_AT = 12, 4, 7  # 7: between checkpoints, so the stop itself saves
EMA_MIXUP = ("optim.ema.decay=0.9", "data.mixup=0.4", "optim.label_smoothing=0.1")
# SWA samples after iterations 6 (before the stop), 8, 10 and 12
SWA_CUTMIX = ("optim.swa.start=4", "optim.swa.every=2", "optim.swa.lr=0.02", "data.cutout=16",
              "data.cutmix=1.0")


@pytest.fixture
def settings_for(compose_config):
    from rescore.config import to_settings

    def make(*extra):
        return to_settings(compose_config(tiny(MAX_STEPS, EVERY, "trainer.deterministic=true",
                                               *extra)))

    return make


@pytest.mark.slow
@pytest.mark.parametrize("switches", [EMA_MIXUP, SWA_CUTMIX], ids=["ema+mixup", "swa+cutmix"])
def test_stopped_and_resumed_run_with_switches_equals_the_uninterrupted_one(
        settings_for, tmp_path, monkeypatch, switches):
    settings = settings_for(*switches)
    straight = train(settings, tmp_path / "straight")

    resumed_dir = tmp_path / "resumed"
    train(settings, resumed_dir, stop_at=STOP_AT, monkeypatch=monkeypatch)
    assert checkpoint_steps(resumed_dir) == [4, STOP_AT]
    resumed = train(settings, resumed_dir)

    assert resumed["weights_sha256"] == straight["weights_sha256"]
    assert resumed["test_error"] == straight["test_error"]
    if "optim.ema.decay=0.9" in switches:
        assert resumed["ema_weights_sha256"] == straight["ema_weights_sha256"]
        assert resumed["ema_weights_sha256"] != resumed["weights_sha256"]
        assert "ema_test_error" in resumed
    assert train_steps(resumed_dir) == list(range(1, MAX_STEPS + 1))


@pytest.mark.slow
@pytest.mark.parametrize("switch", ["data.mixup=0.4", "data.cutmix=1.0"])
def test_a_mixing_run_under_xla_logs_the_losses_of_the_run_without_xla(settings_for, tmp_path,
                                                                        switch):
    """trainer.jit_compile=true with mixup or CutMix (λ from the run's table): the same
    batches and λ, so the logged training losses match the run without XLA to float
    tolerance: at the first iterations, where the batch and its λ decide the loss, to 1e-5;
    later the weights drift apart as XLA fuses and reorders arithmetic (about 6e-4 by
    iteration 12 here), so not bitwise. (That the table holds the λ the step drew before
    is tests/test_modern_switches.py's.)"""
    from rescore.train.logging import read_metrics

    train(settings_for(switch), tmp_path / "no_xla")
    train(settings_for(switch, "trainer.jit_compile=true"), tmp_path / "xla")

    def losses(name):
        return [r["loss"] for r in read_metrics(tmp_path / name / "metrics.jsonl")
                if r["split"] == "train"]

    assert len(losses("xla")) == len(losses("no_xla")) == MAX_STEPS  # logged every iteration
    np.testing.assert_allclose(losses("xla")[:3], losses("no_xla")[:3], rtol=1e-5)
    np.testing.assert_allclose(losses("xla"), losses("no_xla"), rtol=2e-3)


@pytest.mark.slow
def test_ema_alone_trains_the_papers_weights_and_reports_the_average(settings_for, tmp_path):
    plain = train(settings_for(), tmp_path / "plain")
    with_ema = train(settings_for("optim.ema.decay=0.5"), tmp_path / "ema")
    assert with_ema["weights_sha256"] == plain["weights_sha256"]
    assert with_ema["test_error"] == plain["test_error"]
    assert with_ema["ema_weights_sha256"] != plain["weights_sha256"]
    assert 0 <= with_ema["ema_test_error"] <= 1
    assert with_ema["ema_decay"] == 0.5  # schedule_scale 1: the decay as given
    records = [json.loads(line) for line in
               (tmp_path / "ema" / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in records} >= {"train", "test", "test_ema"}
    assert "ema_test_error" not in plain


@pytest.mark.slow
@pytest.mark.parametrize("switch", ["data.cutout=8", "data.mixup=0.2", "data.cutmix=1.0",
                                    "optim.label_smoothing=0.1", "optim.swa.start=8"])
def test_each_switch_changes_the_trained_weights(settings_for, tmp_path, switch):
    plain = train(settings_for(), tmp_path / "plain")
    switched = train(settings_for(switch), tmp_path / "switched")
    assert switched["weights_sha256"] != plain["weights_sha256"]


@pytest.mark.slow
def test_several_iterations_per_call_train_the_same_bits_with_switches_on(settings_for,
                                                                          tmp_path):
    """trainer.steps_per_call stays out of the run digest because it changes nothing: with
    the switches' draws and averages inside the compiled loop as well."""
    switches = EMA_MIXUP + ("data.cutout=8",)
    one = train(settings_for(*switches), tmp_path / "one")
    four = train(settings_for(*switches, "trainer.steps_per_call=4"), tmp_path / "four")
    assert four["weights_sha256"] == one["weights_sha256"]
    assert four["ema_weights_sha256"] == one["ema_weights_sha256"]


@pytest.mark.parametrize("switches, averages", [
    ((), set()),
    (("data.cutout=16",), set()),
    (EMA_MIXUP, {"ema"}),
    (SWA_CUTMIX + ("optim.ema.decay=0.9",), {"ema", "swa"}),
], ids=["off", "cutout", "ema+mixup", "swa+ema+cutmix"])
def test_build_run_makes_the_switches_and_checkpoints_their_averages(settings_for, switches,
                                                                     averages):
    """build_run (shared by training and the bench) holds the switches as one Modern, None
    with all off, and Run.trackables() adds exactly the EMA/SWA states to main's list."""
    from rescore.bench.run import bench_run

    settings = settings_for(*switches)
    run, _ = bench_run(settings)
    assert (run.modern is None) == (not switches)
    assert set(run.trackables()) == {"model", "optimizer", "state", "warmup",
                                     "log_window"} | averages
    if switches:
        assert run.modern.cutout == settings.data.cutout
        assert (run.ema is not None) == ("ema" in averages)
        assert run.trackables().get("ema") is (run.ema.state if run.ema else None)
