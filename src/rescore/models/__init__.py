"""`build_model(name, ...)` and `list_models()` over the registry of ResNet families."""

from __future__ import annotations

from typing import List, Optional

import keras

from ..config import UnitConfig
from .batchnorm import BATCHNORM_KINDS, batchnorm_kind  # noqa: F401
from .layers import allow_deep_graphs
from .registry import MODELS
from .units import is_default, resolved_unit, unit_problems
# Each family registers its named entry functions at the bottom of its module.
from . import cifar  # noqa: F401  (resnet8/20/32/44/56/110/1202, plain20/32/44/56/110)
from . import bottleneck  # noqa: F401  (resnet164)
from . import preact  # noqa: F401  (preact_resnet110/164/1001, resnet56/110/164/1001_v2)
from . import imagenet  # noqa: F401  (resnet18/34/50/101/152)


def build_model(name: str, num_classes: int = 10, shortcut: Optional[str] = None,
                batchnorm: str = "fused", unit: Optional[UnitConfig] = None,
                **kwargs) -> keras.Model:
    """Build a registered model; returns a Keras model mapping NHWC float images to logits.

    shortcut=None takes the family's default (`model_info(name)["default_shortcut"]`):
    A for CIFAR v1 (the paper's choice), B for bottleneck, pre-activation and ImageNet nets.
    batchnorm: "fused" (one kernel per BN in training) or "keras" (the stock layer); the
    weights are the same either way (batchnorm.py). unit: the residual unit (units.py, He
    et al. 2016b); None or the default UnitConfig builds the family's own, exactly as
    without it; a unit that cannot be built raises ValueError saying why."""
    entry = MODELS.get(name)
    shortcut = resolved_shortcut(name, shortcut)  # the family default, decided here only
    if not is_default(unit):
        problems = unit_problems(unit, name, shortcut)
        if problems:
            raise ValueError("; ".join(problems))
        kwargs["unit"] = resolved_unit(unit, model_info(name)["placement"])
    allow_deep_graphs()
    with batchnorm_kind(batchnorm):
        return entry(num_classes=num_classes, shortcut=shortcut, **kwargs)


def resolved_shortcut(name: str, shortcut: Optional[str]) -> Optional[str]:
    """The option a model is really built with (None only for plain nets)."""
    return shortcut if shortcut is not None else model_info(name)["default_shortcut"]


def resolved_placement(name: str, unit: Optional[UnitConfig]) -> Optional[str]:
    """The placement a model is really built with (units.py); None where units cannot vary."""
    own = model_info(name)["placement"]
    if is_default(unit) or own is None:
        return own
    return str(resolved_unit(unit, own).placement)


def list_models() -> List[str]:
    return MODELS.names()


def model_info(name: str) -> dict:
    return MODELS.info(name)


def count_trainable_params(model: keras.Model) -> int:
    return int(sum(v.numpy().size for v in model.trainable_variables))
