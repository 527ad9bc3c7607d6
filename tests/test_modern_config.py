"""The modern switches' config (issue 15): off by default without moving any run folder,
bad values exit 2 at start-up naming the value and what is valid, and the
experiment=modern preset says what it sets."""

from dataclasses import asdict

import pytest

from rescore.config import config_digest, to_settings


def test_switches_are_off_by_default(compose_config):
    c = to_settings(compose_config([]))
    assert (c.data.cutout, c.data.mixup, c.data.cutmix) == (0, 0.0, 0.0)
    assert c.optim.label_smoothing == 0.0
    assert c.optim.ema.decay is None and c.optim.swa.start is None


@pytest.mark.parametrize("overrides, message", [
    (["optim.label_smoothing=-0.1"], "optim.label_smoothing must be in [0, 1), got -0.1"),
    (["optim.label_smoothing=1.0"], "optim.label_smoothing must be in [0, 1), got 1.0"),
    (["data.cutout=33"], "data.cutout is the side of the zeroed square in pixels and must be "
                         "in 0..32"),
    (["data.cutout=-1"], "got -1"),
    (["data.mixup=-0.2"], "data.mixup is α of Beta(α, α) and must be >= 0 (0: off), got -0.2"),
    (["data.cutmix=-1"], "data.cutmix is α of Beta(α, α) and must be >= 0 (0: off), got -1.0"),
    (["data.mixup=0.2", "data.cutmix=1"], "choose one of them"),
    (["optim.ema.decay=1.0"], "optim.ema.decay must be in (0, 1) (e.g. 0.9998), or null for "
                              "no EMA, got 1.0"),
    (["optim.ema.decay=0"], "optim.ema.decay must be in (0, 1)"),
    (["optim.swa.start=40"], "optim.swa.start=40 (scaled: 40) must lie in [0, "
                             "optim.max_steps=40 (scaled: 40))"),
    (["optim.swa.start=30", "optim.swa.lr=0"], "optim.swa.lr must be > 0, got 0.0"),
    (["optim.swa.start=30", "optim.swa.every=0"], "optim.swa.every must be >= 1"),
])
def test_bad_modern_values_fail_at_start_up(compose_config, overrides, message):
    from rescore.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        to_settings(compose_config(["experiment=smoke", *overrides]))
    assert message in str(raised.value)


@pytest.mark.parametrize("switch", ["data.mixup=0.2", "data.cutmix=1.0"])
def test_mixup_and_cutmix_are_accepted_with_xla(compose_config, switch):
    """Refused until λ came from a table drawn before training (data/mixing.py)."""
    c = to_settings(compose_config(["experiment=smoke", switch, "trainer.jit_compile=true"]))
    assert c.trainer.jit_compile and (c.data.mixup, c.data.cutmix) != (0.0, 0.0)


def test_swa_start_is_compared_with_the_scaled_schedule(compose_config):
    from rescore.errors import ConfigError

    with pytest.raises(ConfigError, match=r"optim.swa.start=60000 \(scaled: 1875\)"):
        to_settings(compose_config(["optim.swa.start=60000", "optim.max_steps=40000",
                                    "optim.milestones=[20000,30000]",
                                    "optim.schedule_scale=1/32"]))
    to_settings(compose_config(["optim.swa.start=48000", "optim.schedule_scale=1/32"]))


def test_the_modern_preset(compose_config):
    c = to_settings(compose_config(["experiment=modern"]))
    assert c.name == "modern"
    assert (c.optim.schedule, c.optim.nesterov, c.optim.wd) == ("cosine", True, 5e-4)
    assert (c.optim.label_smoothing, c.data.cutout, c.optim.ema.decay) == (0.1, 16, 0.9998)
    assert c.optim.max_steps == 200 * 50_000 // 128 == 78_125
    assert (c.data.mixup, c.data.cutmix, c.optim.swa.start) == (0.0, 0.0, None)
    assert c.data.batch_size == 128


def test_a_switch_changes_the_digest_and_off_does_not(compose_config):
    def digest(*overrides):
        return config_digest(asdict(to_settings(compose_config(list(overrides)))))

    assert digest() == "44136fa355"  # as pinned in tests/test_config_defaults.py
    assert digest("optim.label_smoothing=0.0", "data.cutout=0", "optim.ema.decay=null") \
        == "44136fa355"
    assert len({digest(), digest("data.cutout=16"), digest("data.mixup=0.2"),
                digest("optim.ema.decay=0.999"), digest("optim.swa.start=48000"),
                digest("optim.label_smoothing=0.1")}) == 6


# ------------------------------------------------------- the EMA under schedule_scale

def test_ema_decay_is_unchanged_at_full_schedule_and_none_without_ema(compose_config):
    from rescore.train.schedule import ema_decay

    assert ema_decay(to_settings(compose_config(["experiment=modern"])).optim) == 0.9998
    assert ema_decay(to_settings(compose_config([])).optim) is None


@pytest.mark.parametrize("scale, expected", [
    ("1/8", 0.9984011195521122),  # 0.9998**8
    ("1/2", 0.99960004),  # 0.9998**2
    ("2", 0.9998999949995),  # sqrt(0.9998): a longer run, a longer horizon
])
def test_ema_decay_scales_its_horizon_with_the_schedule(compose_config, scale, expected):
    from rescore.train.schedule import ema_decay

    o = to_settings(compose_config(["experiment=modern", f"optim.schedule_scale={scale}"])).optim
    assert ema_decay(o) == pytest.approx(expected, rel=0, abs=1e-15)


def test_at_1_8_the_initial_weights_keep_the_full_runs_share_of_the_average(compose_config):
    """The point of scaling: after the scaled run, the initial weights' share of the
    average, decay^N, is what it is after the full run, not 14 %."""
    from rescore.train.schedule import ema_decay, scaled_schedule

    o = to_settings(compose_config(["experiment=modern", "optim.schedule_scale=1/8"])).optim
    scaled_steps = scaled_schedule(o.max_steps, [], 0, o.schedule_scale)[0]
    assert scaled_steps == 9766  # 78,125 / 8, rounded
    assert ema_decay(o) ** scaled_steps == pytest.approx(0.9998 ** 78_125, rel=1e-3)


def test_the_run_averages_with_the_scaled_decay(compose_config):
    import keras

    from rescore.train.modern import Modern

    c = to_settings(compose_config(["experiment=modern", "optim.schedule_scale=1/8"]))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert Modern.of(c, model, steps_per_epoch=390, max_steps=9766).ema.decay == pytest.approx(
        0.9998 ** 8, rel=0, abs=1e-15)
