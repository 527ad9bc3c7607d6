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
