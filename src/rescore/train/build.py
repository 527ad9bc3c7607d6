"""A run's parts, built from its checked config in one place: `build_run(c)`.

Training (loop.py) and the benchmark (bench/) both start here, so what the bench times is
what a run trains: the same data, normalisation, model, optimizer, steps and warm-up.
Nothing here reads files besides the data set, and nothing starts training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from ..config import Config
from ..data import load_splits
from ..data.pipeline import BatchOrder, Splits, normalization
from ..errors import ConfigError
from ..models import build_model
from .checkpoint import RunState, WarmupState
from .device_data import DeviceSteps, make_device_steps, upload
from .distributed import make_distributed_train_step, make_strategy, strategy_scope
from .logging import LogWindow
from .modern import Modern
from .multistep import make_multi_step
from .optimizer import SGDMomentum
from .precision import make_loss_scale, precision_policy
from .schedule import Warmup, scaled_schedule
from .step import StepInputs, make_eval_step, make_train_step

# Parts of a checkpoint that older rescore versions did not save (checkpoint.py restores
# such a checkpoint without them; they start empty).
ADDED_TO_CHECKPOINTS = {"warmup": "warm-up error window",
                        "log_window": "running sums of the next training record"}


@dataclass
class Run:
    """Everything a run trains with. The tf.Modules (model, optimizer, loss_scale, state,
    warmup.state, log_window, and the EMA/SWA averages of `modern`) are what a checkpoint
    holds (`trackables`)."""
    settings: Config
    splits: Splits
    mean: np.ndarray  # normalisation from the training split actually used
    std: np.ndarray
    model: keras.Model
    optimizer: SGDMomentum
    loss_scale: Optional[tf.Module]  # float16 only (precision.py)
    train_step: Callable
    multi_step: Optional[Callable]  # None when trainer.steps_per_call is 1
    eval_step: Callable
    warmup: Warmup
    state: RunState
    log_window: LogWindow
    order: BatchOrder
    max_steps: int  # scaled by optim.schedule_scale
    # trainer.data_on_device: steps fed batch indices; the data they gather from is held by
    # them as constants, so it is in no checkpoint (device_data.py). None: host-fed
    device_steps: Optional[DeviceSteps] = None
    modern: Optional[Modern] = None  # issue 15's switches (modern.py); None: all off

    @property
    def step_inputs(self) -> StepInputs:
        """What the training step makes of a batch: crop/flip from (seed, iteration), then
        this run's normalisation (also SWA's BN pass, modern.py)."""
        return StepInputs.of(self.settings, self.mean, self.std)

    @property
    def ema(self):
        """The EMA of the weights (ema.Ema), or None: optim.ema is off."""
        return self.modern.ema if self.modern is not None else None

    def trackables(self) -> Dict[str, tf.Module]:
        """What a checkpoint saves and restores, by name."""
        return {"model": self.model, "optimizer": self.optimizer, "state": self.state,
                "warmup": self.warmup.state, "log_window": self.log_window,
                **({"loss_scale": self.loss_scale} if self.loss_scale else {}),
                **(self.modern.trackables() if self.modern else {})}


def run_model(c: Config) -> keras.Model:
    """The model a run's config describes (also how rescore eval and the report rebuild
    it). Layers keep the precision policy they are built with."""
    with precision_policy(c.trainer.precision):
        try:
            return build_model(c.model.name, num_classes=c.data.num_classes,
                               shortcut=c.shortcut.option, batchnorm=c.model.batchnorm,
                               unit=c.unit, **c.model.kwargs)
        except (TypeError, ValueError) as err:
            if not c.model.kwargs:
                raise  # a bug, not the user's input
            # the builders' own arguments are the only list of what kwargs may hold
            raise ConfigError(f"model.kwargs {dict(c.model.kwargs)} do not fit "
                              f"{c.model.name}: {err}") from err


def build_run(c: Config, splits: Optional[Splits] = None) -> Run:
    """The parts of a run, fresh (a checkpoint restore comes after). `splits`: data already
    loaded (the bench's stand-in when CIFAR-10 is missing); by default `c.data`'s."""
    o, t = c.optim, c.trainer
    # data: arrays loaded once; normalisation from the training split
    splits = load_splits(c.data) if splits is None else splits
    mean, std = normalization(splits.x_train, c.data.normalize)

    # model and optimizer: weight init from the run's seed; under a strategy the variables
    # (and the momentum buffers) are mirrored
    keras.utils.set_random_seed(c.seed)
    strategy = make_strategy(t.strategy)  # None: one device (distributed.py)
    with strategy_scope(strategy):
        model = run_model(c)
    loss_scale = make_loss_scale(t.precision)
    with strategy_scope(strategy):
        optimizer = SGDMomentum(model.trainable_variables, o)

    # the rate and the state a resumed run continues from
    warmup = Warmup(o, WarmupState())
    max_steps = scaled_schedule(o.max_steps, [], 0, o.schedule_scale)[0]
    order = BatchOrder(len(splits.x_train), c.data.batch_size, c.seed)

    # issue 15's switches (cutout, mixup/CutMix, label smoothing, EMA, SWA): None when all
    # are off; EMA and SWA make their averages here, before a checkpoint restores them
    modern = Modern.of(c, model, order.steps_per_epoch, max_steps)

    # the compiled steps (the switches only on one device: config.py refuses them mirrored)
    inputs = StepInputs.of(c, mean, std)
    if strategy is None:
        train_step = make_train_step(model, optimizer, o, inputs, t.jit_compile, loss_scale,
                                     modern)
    else:
        train_step = make_distributed_train_step(strategy, model, optimizer, o, inputs,
                                                 t.jit_compile, loss_scale)
    multi_step = make_multi_step(train_step, t.jit_compile) if t.steps_per_call > 1 else None
    eval_step = make_eval_step(model, mean, std, jit_compile=t.jit_compile)
    device_steps = (make_device_steps(train_step, multi_step,
                                      *upload(splits.x_train, splits.y_train), t.jit_compile)
                    if t.data_on_device else None)

    return Run(settings=c, splits=splits, mean=mean, std=std, model=model,
               optimizer=optimizer, loss_scale=loss_scale, train_step=train_step,
               multi_step=multi_step, eval_step=eval_step, warmup=warmup,
               state=RunState(warmup.state), log_window=LogWindow(), order=order,
               max_steps=max_steps, modern=modern, device_steps=device_steps)
