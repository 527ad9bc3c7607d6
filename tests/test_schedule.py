from fractions import Fraction

import pytest

from rescore.train.schedule import lr_at, parse_scale, scale_steps, scaled_schedule

PAPER = dict(base_lr=0.1, milestones=(32000, 48000), gamma=0.1)


@pytest.mark.parametrize("step, expected", [
    (0, 0.1), (31999, 0.1), (32000, 0.01), (47999, 0.01), (48000, 0.001), (63999, 0.001)])
def test_paper_schedule_pinned(step, expected):
    assert lr_at(step, **PAPER) == pytest.approx(expected, rel=1e-12)


def test_warmup_until_its_end_then_paper_schedule():
    values = [lr_at(s, **PAPER, warmup_lr=0.01, warmup_end=400) for s in (0, 399, 400, 32000)]
    assert values == pytest.approx([0.01, 0.01, 0.1, 0.01])


def test_no_warmup_when_end_is_none():
    assert lr_at(0, **PAPER, warmup_lr=0.01, warmup_end=None) == 0.1


@pytest.mark.parametrize("text, value", [("1/32", Fraction(1, 32)), (0.25, Fraction(1, 4)),
                                         (1, Fraction(1)), ("0.5", Fraction(1, 2))])
def test_parse_scale(text, value):
    assert parse_scale(text) == value


@pytest.mark.parametrize("bad", ["0", "-1/2", "abc", "1/0"])
def test_parse_scale_rejects(bad):
    with pytest.raises(ValueError):
        parse_scale(bad)


def test_scale_1_32_gives_2000_iterations_and_scaled_milestones_and_warmup():
    assert scaled_schedule(64000, [32000, 48000], 400, "1/32") == (2000, (1000, 1500), 12)
    assert scale_steps(64000, 0.5) == 32000


def test_scaled_schedule_values_pinned():
    max_steps, milestones, _ = scaled_schedule(64000, [32000, 48000], 0, "1/32")
    lrs = [lr_at(s, 0.1, milestones) for s in (0, 999, 1000, 1499, 1500, max_steps - 1)]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


# ------------------------------------------------------------- the warm-up (schedule.Warmup)


def warmup_for(**optim):
    """A Warmup from the schema's optim group (the paper's values) with `optim` changed;
    `warmup` takes the WarmupConfig fields as a dict."""
    from rescore.config import OptimConfig, WarmupConfig
    from rescore.train.checkpoint import WarmupState
    from rescore.train.schedule import Warmup

    fields = dict(optim)
    fields["warmup"] = WarmupConfig(**fields.pop("warmup", {}))
    return Warmup(OptimConfig(**fields), WarmupState())


def feed(warmup, errors, first_step=0):
    """observe() the training errors of consecutive iterations; the warm-up end after each."""
    ends = []
    for i, error in enumerate(errors):
        warmup.observe(first_step + i, error)
        ends.append(warmup.end)
    return ends


def test_no_warmup_by_default_is_the_milestone_schedule_and_observes_nothing():
    w = warmup_for()
    assert w.end == -1
    assert [w.lr(s) for s in (0, 31999, 32000, 48000)] == pytest.approx([0.1, 0.1, 0.01,
                                                                          0.001])
    assert w.decided(0)
    feed(w, [0.1] * 25)
    assert int(w.state.errors_seen) == 0 and w.end == -1


def test_fixed_warmup_is_scaled_with_the_schedule():
    w = warmup_for(schedule_scale="1/32", warmup={"steps": 400})  # 400/32 = 12.5 → 12
    assert w.end == 12
    assert [w.lr(s) for s in (0, 11, 12, 999, 1000, 1500)] == pytest.approx(
        [0.01, 0.01, 0.1, 0.1, 0.01, 0.001])
    assert w.decided(0)  # known in advance: no need to run one iteration per call


def test_error_based_warmup_ends_when_the_last_20_batches_average_below_the_threshold():
    """Errors 1.0 five times, then 0.75: the mean of the last 20 is 0.8125 after 20
    iterations, 0.8 (not below 0.8) after 21, 0.7875 after 22, so the warm-up ends at 22.
    (A mean over all batches so far would still be 0.807 there.)"""
    w = warmup_for(warmup={"until_train_error": 0.8})
    assert w.end == 4000 and not w.decided(0)  # the cap, optim.warmup.max_steps
    ends = feed(w, [1.0] * 5 + [0.75] * 20)
    assert ends[:21] == [4000] * 21 and ends[21:] == [22] * 4
    assert [w.lr(s) for s in (0, 21, 22, 32000)] == pytest.approx([0.01, 0.01, 0.1, 0.01])
    assert w.decided(22) and w.decided(23)
    assert int(w.state.errors_seen) == 22  # nothing observed once it ended


def test_error_based_warmup_gives_up_at_its_scaled_cap():
    w = warmup_for(schedule_scale="1/32", warmup={"until_train_error": 0.1})  # 4000/32
    assert w.end == 125
    assert [w.lr(s) for s in (124, 125)] == pytest.approx([0.01, 0.1])
    assert not w.decided(124) and w.decided(125)


def test_the_error_window_survives_a_checkpoint(tmp_path):
    """Stopped after 15 of the iterations above and restored into a fresh Warmup, it ends at
    22 as the uninterrupted one; with the window lost (as before it was checkpointed) it
    needs 20 new batches and ends at 35."""
    import tensorflow as tf

    errors = [1.0] * 5 + [0.75] * 30
    first = warmup_for(warmup={"until_train_error": 0.8})
    feed(first, errors[:15])
    path = tf.train.Checkpoint(warmup=first.state).save(str(tmp_path / "ckpt"))

    resumed = warmup_for(warmup={"until_train_error": 0.8})
    tf.train.Checkpoint(warmup=resumed.state).restore(path).assert_consumed()
    assert feed(resumed, errors[15:], first_step=15)[-1] == 22

    forgotten = warmup_for(warmup={"until_train_error": 0.8})
    assert feed(forgotten, errors[15:], first_step=15)[-1] == 35
