"""What is benchmarked, built from the config exactly as `train.loop.run` builds it:
the data, the model under its precision policy, the optimizer and the step functions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional

import keras
import numpy as np

from ..config import Config
from ..data import load_splits
from ..data.pipeline import BatchOrder, Splits, normalization
from ..models import build_model
from ..train.multistep import make_multi_step
from ..train.optimizer import SGDMomentum
from ..train.precision import make_loss_scale, precision_policy
from ..train.step import decayed_variables, make_train_step

log = logging.getLogger(__name__)


@dataclass
class Subject:
    splits: Splits
    data_used: str  # "cifar10" or "synthetic (…why…)"
    mean: np.ndarray
    std: np.ndarray
    model: keras.Model
    train_step: Callable
    multi_step: Optional[Callable]  # None when steps_per_call is 1
    order: BatchOrder


def load_data(c: Config) -> tuple[Splits, str]:
    """Real CIFAR-10 when it can be had, otherwise the synthetic set (and say so)."""
    d = c.data
    if d.name == "cifar10":
        try:
            return load_splits("cifar10", d.root, d.download, d.val_split), "cifar10"
        except Exception as err:  # no files and no network: measure on synthetic data
            log.warning("CIFAR-10 unavailable (%s); benchmarking on synthetic data", err)
            reason = f"synthetic (cifar10 unavailable: {type(err).__name__})"
            return load_splits("synthetic", synthetic_train=d.synthetic_train,
                               synthetic_test=d.synthetic_test,
                               num_classes=d.num_classes), reason
    return load_splits(d.name, d.root, d.download, d.val_split, d.synthetic_train,
                       d.synthetic_test, d.num_classes), d.name


def build_keras_model(c: Config, batchnorm: Optional[str] = None) -> keras.Model:
    """The config's model under its precision policy (seeded from the run's seed), with
    the config's batch normalisation unless `batchnorm` names another kind."""
    keras.utils.set_random_seed(c.seed)
    with precision_policy(c.trainer.precision):
        return build_model(c.model.name, num_classes=c.data.num_classes,
                           shortcut=c.shortcut.option,
                           batchnorm=batchnorm or c.model.batchnorm, unit=c.unit,
                           **c.model.kwargs)


def build_subject(c: Config) -> Subject:
    splits, data_used = load_data(c)
    mean, std = normalization(splits.x_train, c.data.normalize)
    model = build_keras_model(c)
    o, t = c.optim, c.trainer
    optimizer = SGDMomentum(model.trainable_variables, o.momentum, o.nesterov)
    train_step = make_train_step(model, optimizer, o.wd, decayed_variables(model, o.wd_bn),
                                 mean, std, seed=c.seed, augment=c.data.augment,
                                 jit_compile=t.jit_compile,
                                 loss_scale=make_loss_scale(t.precision))
    multi_step = make_multi_step(train_step, t.jit_compile) if t.steps_per_call > 1 else None
    order = BatchOrder(len(splits.x_train), c.data.batch_size, c.seed)
    return Subject(splits, data_used, mean, std, model, train_step, multi_step, order)
