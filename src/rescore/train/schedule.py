"""The learning rate as a pure function of the iteration (He et al. 2016, §4.2).

0.1, divided by 10 at 32k and 48k iterations, stop at 64k. For very deep nets the paper
warms up at 0.01 "until the training error is below 80% (about 400 iterations)": the
iteration where warm-up ended is state the loop records (and checkpoints), so the rate
stays a pure function of (iteration, warm-up end).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Optional, Sequence, Tuple, Union

Scale = Union[int, float, str, Fraction]


def parse_scale(scale: Scale) -> Fraction:
    """'1/32', 0.03125 and 1 are all accepted; the result must be positive."""
    try:
        value = Fraction(str(scale)) if isinstance(scale, str) else Fraction(scale)
    except (ValueError, ZeroDivisionError, TypeError) as err:
        raise ValueError(f"schedule_scale {scale!r} is not a number or a fraction like 1/32") \
            from err
    if value <= 0:
        raise ValueError(f"schedule_scale must be positive, got {scale!r}")
    return value.limit_denominator(1 << 20)


def scale_steps(steps: int, scale: Scale) -> int:
    """An iteration count under the schedule scale, rounded to the nearest iteration."""
    return int(round(Fraction(steps) * parse_scale(scale)))


def scaled_schedule(max_steps: int, milestones: Sequence[int], warmup_steps: int,
                    scale: Scale) -> Tuple[int, Tuple[int, ...], int]:
    """max_steps, milestones and fixed warm-up length scaled together (≥1 step each)."""
    return (max(1, scale_steps(max_steps, scale)),
            tuple(max(1, scale_steps(m, scale)) for m in milestones),
            scale_steps(warmup_steps, scale))


def lr_at(step: int, base_lr: float, milestones: Sequence[int], gamma: float = 0.1,
          warmup_lr: Optional[float] = None, warmup_end: Optional[int] = None) -> float:
    """Learning rate used for iteration `step` (0-based).

    During warm-up (step < warmup_end) the rate is `warmup_lr`; afterwards `base_lr`
    times `gamma` for every milestone already reached (step >= milestone).
    """
    if warmup_lr is not None and warmup_end is not None and step < warmup_end:
        return float(warmup_lr)
    drops = sum(1 for m in milestones if step >= m)
    return float(base_lr * gamma ** drops)
