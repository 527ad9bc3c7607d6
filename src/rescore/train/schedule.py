"""Where the learning rate comes from (He et al. 2016, §4.2).

0.1, divided by 10 at 32k and 48k iterations, stop at 64k. For very deep nets the paper
warms up at 0.01 "until the training error is below 80% (about 400 iterations)". `Warmup`
is that warm-up, and the rate it leads into: the iteration where warm-up ended is state
it keeps (and the checkpoint saves, with the training errors it is still judging), so the
rate stays a pure function of (iteration, warm-up end).

`optim.schedule=cosine` swaps the milestones for a cosine decay from optim.lr to 0 over
max_steps: SGDR (Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
Restarts", ICLR 2017), eq. (5) with η_min = 0 and no restart, i.e. one period T_i =
max_steps counted in iterations. `optim.cosine_warmup_steps` > 0 ramps the rate linearly
up to optim.lr over those first iterations (the gradual warm-up of Goyal et al. 2017,
"Accurate, Large Minibatch SGD", §2.2, here starting from 0). Every warm-up replaces the
rate of the iterations before its end and the schedule itself stays a function of the
absolute iteration (the cosine is not shifted by the warm-up), so the paper's constant
warm-up at 0.01 combines with cosine as it does with the milestones.

This module does not import TensorFlow (config checks and the report use the scale
helpers); the warm-up's variables are made by `train.checkpoint.WarmupState`.
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction
from typing import TYPE_CHECKING, Optional, Sequence, Tuple, Union

import numpy as np

if TYPE_CHECKING:
    from ..config import OptimConfig
    from .checkpoint import WarmupState

log = logging.getLogger(__name__)

Scale = Union[int, float, str, Fraction]
NO_WARMUP = -1  # Warmup.end of a run that never warms up (result.json's warmup_end)
WARMUP_WINDOW = 20  # batches averaged for the "training error below X" warm-up test


def parse_scale(scale: Scale) -> Fraction:
    """'1/32', 0.03125 and 1 are all accepted; the result must be positive and finite."""
    try:
        if isinstance(scale, bool):  # Fraction(True) would be 1
            raise TypeError("a truth value")
        value = Fraction(str(scale)) if isinstance(scale, str) else Fraction(scale)
    except (ValueError, ZeroDivisionError, TypeError, OverflowError) as err:  # inf: Overflow
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


def cosine_lr_at(step: int, base_lr: float, max_steps: int, linear_warmup: int = 0) -> float:
    """Rate of iteration `step` (0-based) under the cosine schedule (SGDR eq. 5, η_min = 0,
    T_cur = step, T_i = max_steps): base_lr · ½(1 + cos(π·step/max_steps)), from base_lr at
    step 0 to nearly 0 at the last iteration. The first `linear_warmup` iterations ramp
    instead: iteration i uses base_lr·(i+1)/linear_warmup, so none is spent at rate 0 and
    the last of them runs at base_lr."""
    if step < linear_warmup:
        return float(base_lr * (step + 1) / linear_warmup)
    return float(base_lr * 0.5 * (1.0 + math.cos(math.pi * step / max_steps)))


def scaled_linear_warmup(steps: int, scale: Scale) -> int:
    """optim.cosine_warmup_steps under the schedule scale; a warm-up asked for keeps at least
    one iteration."""
    return max(1, scale_steps(steps, scale)) if steps > 0 else 0


def ema_decay(o: "OptimConfig") -> Optional[float]:
    """optim.ema.decay under the schedule scale; None: no EMA.

    The average's horizon, about 1/(1−decay) iterations, is an iteration count like the
    milestones, so it scales with them: decay^(1/scale), which gives the weights of any
    fraction of the run the same share of the final average as at full length (decay^N =
    (decay^(1/s))^(s·N)). Unscaled, a 1/8 run of experiment=modern (decay 0.9998, 9,766
    iterations) would end with 0.9998^9766 ≈ 14 % of its average still the initial random
    weights; at full length (78,125 iterations) that share is about 2e-7."""
    if o.ema.decay is None:
        return None
    scale = parse_scale(o.schedule_scale)
    return float(o.ema.decay) if scale == 1 else float(o.ema.decay) ** (1 / float(scale))


def swa_start(o: "OptimConfig") -> Optional[int]:
    """The first iteration at SWA's constant rate (optim.swa.start, scaled); None: no SWA."""
    return None if o.swa.start is None else scale_steps(o.swa.start, o.schedule_scale)


def swa_every(o: "OptimConfig", steps_per_epoch: int) -> int:
    """Iterations between SWA samples: optim.swa.every, or one epoch, scaled (>= 1)."""
    every = steps_per_epoch if o.swa.every is None else o.swa.every
    return max(1, scale_steps(every, o.schedule_scale))


class Warmup:
    """The warm-up and the rate it leads into, from the config's optim group.

    - no warm-up (the default): `end` is NO_WARMUP and the rate is the schedule's:
      the milestones (`optim.schedule=step`, the paper's) or the cosine (`cosine`, with its
      own linear warm-up `optim.cosine_warmup_steps`, fixed in advance);
    - `optim.warmup.steps`: a fixed warm-up, `end` that many iterations (scaled);
    - `optim.warmup.until_train_error`: warm up until the mean training error of the last
      WARMUP_WINDOW batches is below it (`observe`), giving up at `optim.warmup.max_steps`
      (scaled). Until then `end` holds that cap.

    Everything it accumulates is in `state` (checkpoint.WarmupState): the end and the window
    of recent errors, so a run stopped during warm-up resumes judging the same batches."""

    def __init__(self, o: "OptimConfig", state: "WarmupState"):
        self.max_steps, self.milestones, fixed = scaled_schedule(
            o.max_steps, o.milestones, o.warmup.steps, o.schedule_scale)
        self.schedule = o.schedule
        self.linear_warmup = scaled_linear_warmup(o.cosine_warmup_steps, o.schedule_scale)
        self.base_lr, self.gamma, self.warmup_lr = o.lr, o.gamma, o.warmup.lr
        self.until_error = o.warmup.until_train_error
        self.cap = scale_steps(o.warmup.max_steps, o.schedule_scale)  # error-based: latest end
        self.state = state
        # SWA (train/swa.py): the constant optim.swa.lr from optim.swa.start (scaled) on
        self.swa_start = swa_start(o)
        self.swa_lr = o.swa.lr
        if self.until_error is not None:
            state.end.assign(self.cap)
        else:
            state.end.assign(fixed if fixed else NO_WARMUP)

    @property
    def end(self) -> int:
        """The first iteration at the full rate (NO_WARMUP: none)."""
        return int(self.state.end)

    def lr(self, step: int) -> float:
        """The rate of iteration `step`: a pure function of (step, warm-up end)."""
        if self.swa_start is not None and step >= self.swa_start:
            return float(self.swa_lr)
        end = self.end
        if self.schedule == "cosine":
            if end != NO_WARMUP and step < end:  # the paper's constant warm-up
                return float(self.warmup_lr)
            return cosine_lr_at(step, self.base_lr, self.max_steps, self.linear_warmup)
        return lr_at(step, self.base_lr, self.milestones, self.gamma, self.warmup_lr,
                     None if end == NO_WARMUP else end)

    def decided(self, step: int) -> bool:
        """Are the rates of `step` and every later iteration known now? Not while an
        error-based warm-up may still end before `step` (the loop then runs one iteration
        per call, multistep.py)."""
        if self.until_error is None:
            return True
        end = self.end
        return step >= end or end < self.cap  # past the end, or it ended before the cap

    def observe(self, step: int, error: float) -> None:
        """The training error (a fraction) of iteration `step`; may end the warm-up after it."""
        if self.decided(step):
            return
        # oldest first, as the loop's deque was: np.mean then sums in the same order
        window = np.append(self.state.recent_errors.numpy()[1:], error)
        seen = int(self.state.errors_seen) + 1
        self.state.recent_errors.assign(window)
        self.state.errors_seen.assign(seen)
        if seen >= len(window) and np.mean(window) < self.until_error:
            self.state.end.assign(step + 1)
            log.info("warm-up ended at iteration %d (train error %.1f%%)", step + 1,
                     100 * np.mean(window))
