"""optim.schedule=cosine (SGDR, Loshchilov & Hutter 2017, eq. 5 with η_min = 0 and no
restart) and its linear warm-up, through Warmup.lr, the one place the loop asks for a rate.

Values are hand-computed: lr(t) = 0.1 · ½(1 + cos(π t / T)); cos(π/4) = √2/2, so at T/4
the rate is 0.05·(1 + 0.70710678…) = 0.0853553…; at T−1 it is 0.1·sin²(π/(2T))."""

from dataclasses import asdict

import pytest


def warmup_for(**optim):
    from rescore.config import OptimConfig, WarmupConfig
    from rescore.train.checkpoint import WarmupState
    from rescore.train.schedule import Warmup

    fields = dict(optim)
    fields["warmup"] = WarmupConfig(**fields.pop("warmup", {}))
    return Warmup(OptimConfig(**fields), WarmupState())


def test_the_default_schedule_is_still_the_papers_milestones():
    from rescore.config import OptimConfig

    assert OptimConfig().schedule == "step" and OptimConfig().cosine_warmup_steps == 0
    w = warmup_for()
    assert [w.lr(s) for s in (0, 16000, 31999, 32000, 48000, 63999)] == \
        [0.1, 0.1, 0.1, pytest.approx(0.01, rel=1e-12), pytest.approx(0.001, rel=1e-12),
         pytest.approx(0.001, rel=1e-12)]


@pytest.mark.parametrize("step, expected", [
    (0, 0.1),                     # cos 0 = 1
    (16000, 0.0853553390593274),  # 0.05·(1 + √2/2)
    (32000, 0.05),                # cos(π/2) = 0
    (48000, 0.0146446609406726),  # 0.05·(1 − √2/2)
    (63999, 6.0239284663e-11),    # 0.1·sin²(π/128000), the last iteration, nearly 0
])
def test_cosine_over_the_papers_64k_iterations(step, expected):
    w = warmup_for(schedule="cosine")
    assert w.lr(step) == pytest.approx(expected, rel=1e-6)
    assert w.end == -1 and w.decided(0)


def test_cosine_ignores_milestones_and_gamma():
    plain = warmup_for(schedule="cosine")
    other = warmup_for(schedule="cosine", milestones=[10, 20], gamma=0.5)
    assert [other.lr(s) for s in (0, 10, 20, 40000)] == [plain.lr(s) for s in (0, 10, 20, 40000)]


def test_linear_warmup_then_cosine_under_the_schedule_scale():
    """1/32: T = 2000 and 160 warm-up iterations become 5; iteration i < 5 runs at
    0.1·(i+1)/5; from 5 on the cosine of the absolute iteration."""
    w = warmup_for(schedule="cosine", cosine_warmup_steps=160, schedule_scale="1/32")
    assert [w.lr(s) for s in range(5)] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1],
                                                        rel=1e-12)
    assert w.lr(5) == pytest.approx(0.0999984578822, rel=1e-9)  # 0.05·(1 + cos(π·5/2000))
    assert w.lr(1000) == pytest.approx(0.05, rel=1e-12)
    assert w.lr(1999) == pytest.approx(6.16850e-08, rel=1e-5)  # 0.1·sin²(π/4000)
    assert w.end == -1 and w.decided(0)  # fixed in advance: no error-based bookkeeping


def test_a_tiny_scale_keeps_at_least_one_warmup_iteration():
    w = warmup_for(schedule="cosine", cosine_warmup_steps=10, schedule_scale="1/320")  # 0.03
    assert w.linear_warmup == 1 and w.lr(0) == pytest.approx(0.1)


def test_the_papers_constant_warmup_replaces_the_first_cosine_rates():
    """warmup.steps=400 at 1/32 ends at 12: 0.01 before, then the cosine of iteration 12."""
    w = warmup_for(schedule="cosine", schedule_scale="1/32", warmup={"steps": 400})
    assert w.end == 12
    assert [w.lr(s) for s in (0, 11)] == [0.01, 0.01]
    assert w.lr(12) == pytest.approx(0.0999911176190, rel=1e-9)  # 0.05·(1 + cos(π·12/2000))


def test_the_error_based_warmup_with_cosine_ends_where_the_errors_say():
    w = warmup_for(schedule="cosine", warmup={"until_train_error": 0.8})
    for step in range(20):
        w.observe(step, 0.5)
    assert w.end == 20
    assert w.lr(19) == 0.01
    assert w.lr(32000) == pytest.approx(0.05, rel=1e-12)


# ------------------------------------------------------------------ config


def test_new_fields_at_their_defaults_leave_the_digests(compose_config):
    from rescore.config import config_digest, to_settings

    def digest(*overrides):
        return config_digest(asdict(to_settings(compose_config(list(overrides)))))

    assert digest("optim.schedule=step", "optim.cosine_warmup_steps=0") == "44136fa355"
    assert digest("optim.schedule=cosine") not in ("44136fa355", digest())


def test_cosine_composes_with_scaled_experiments_whose_milestones_it_ignores(compose_config):
    from rescore.config import to_settings

    s = to_settings(compose_config(["experiment=smoke", "optim.schedule=cosine",
                                    "optim.cosine_warmup_steps=4", "optim.max_steps=10"]))
    assert s.optim.schedule == "cosine" and s.optim.milestones == [20, 30]  # unused


@pytest.mark.parametrize("overrides, message", [
    (["optim.cosine_warmup_steps=100"],
     "optim.cosine_warmup_steps=100 is the linear warm-up of the cosine schedule: add "
     "optim.schedule=cosine"),
    (["optim.schedule=cosine", "optim.cosine_warmup_steps=100", "optim.warmup.steps=400"],
     "are two warm-ups: keep one of them"),
    (["optim.schedule=cosine", "optim.cosine_warmup_steps=100",
      "optim.warmup.until_train_error=0.8"], "are two warm-ups"),
    (["optim.schedule=cosine", "optim.cosine_warmup_steps=-1"],
     "optim.cosine_warmup_steps must be >= 0, got -1"),
    (["optim.schedule=cosine", "optim.cosine_warmup_steps=64000"],
     "optim.cosine_warmup_steps=64000 (scaled: 64000) must be below optim.max_steps=64000"),
    (["optim.schedule=cosine", "optim.cosine_warmup_steps=3200", "optim.schedule_scale=1/32",
      "optim.max_steps=3200"], "(scaled: 100) must be below optim.max_steps=3200 (scaled: 100)"),
])
def test_nonsense_combinations_are_refused_at_start_up(compose_config, overrides, message):
    from rescore.config import to_settings
    from rescore.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        to_settings(compose_config(overrides))
    assert message in str(raised.value) and raised.value.exit_code == 2


def test_a_wrong_schedule_name_lists_the_valid_ones():
    from rescore.errors import ConfigError
    from rescore.overrides import check_overrides

    with pytest.raises(ConfigError, match=r"expected one of \[step, cosine\]"):
        check_overrides(["optim.schedule=linear"])
