"""`build_model(name, ...)` and `list_models()` over the registry of ResNet families."""

from __future__ import annotations

from typing import List, Optional

import keras

from .batchnorm import BATCHNORM_KINDS, batchnorm_kind  # noqa: F401
from .layers import allow_deep_graphs
from .registry import MODELS
# Each family registers its named entry functions at the bottom of its module.
from . import cifar  # noqa: F401  (resnet8/20/32/44/56/110/1202, plain20/32/44/56/110)
from . import bottleneck  # noqa: F401  (resnet164)
from . import preact  # noqa: F401  (preact_resnet110/164/1001, resnet56/110/164/1001_v2)
from . import imagenet  # noqa: F401  (resnet18/34/50/101/152)


def build_model(name: str, num_classes: int = 10, shortcut: Optional[str] = None,
                batchnorm: str = "fused", **kwargs) -> keras.Model:
    """Build a registered model; returns a Keras model mapping NHWC float images to logits.

    shortcut=None takes the family's default (`model_info(name)["default_shortcut"]`):
    A for CIFAR v1 (the paper's choice), B for bottleneck, pre-activation and ImageNet nets.
    batchnorm: "fused" (one kernel per BN in training) or "keras" (the stock layer); the
    weights are the same either way (batchnorm.py)."""
    entry = MODELS.get(name)
    shortcut = resolved_shortcut(name, shortcut)  # the family default, decided here only
    allow_deep_graphs()
    with batchnorm_kind(batchnorm):
        return entry(num_classes=num_classes, shortcut=shortcut, **kwargs)


def resolved_shortcut(name: str, shortcut: Optional[str]) -> Optional[str]:
    """The option a model is really built with (None only for plain nets)."""
    return shortcut if shortcut is not None else model_info(name)["default_shortcut"]


def list_models() -> List[str]:
    return MODELS.names()


def model_info(name: str) -> dict:
    return MODELS.info(name)


def count_trainable_params(model: keras.Model) -> int:
    return int(sum(v.numpy().size for v in model.trainable_variables))
