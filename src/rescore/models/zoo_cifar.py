"""Registered names for the CIFAR v1 family: thin entry functions over `cifar_resnet`."""

from __future__ import annotations

from typing import Optional

from .cifar import cifar_resnet
from .registry import MODELS

PLAIN_ACCEPTS = (None, "A", "none")


def _register_resnet(depth: int) -> None:
    @MODELS.register(f"resnet{depth}", family="resnet_v1", depth=depth, block="basic",
                     default_shortcut="A")
    def build(num_classes: int = 10, shortcut: Optional[str] = "A", **kwargs):
        return cifar_resnet(depth, num_classes=num_classes, shortcut=shortcut or "A", **kwargs)


def _register_plain(depth: int) -> None:
    @MODELS.register(f"plain{depth}", family="plain", depth=depth, block="basic",
                     default_shortcut=None)
    def build(num_classes: int = 10, shortcut: Optional[str] = None, **kwargs):
        # Plain nets have no shortcut to choose; 'A' is accepted because it is the
        # config default, anything else is a mistake worth reporting.
        if shortcut not in PLAIN_ACCEPTS:
            raise ValueError(f"plain{depth} has no shortcuts, so shortcut={shortcut!r} means "
                             f"nothing; use a resnet{depth} for shortcut options A/B/C")
        return cifar_resnet(depth, num_classes=num_classes, shortcut=None, **kwargs)


for _depth in (8, 20, 32, 44, 56, 110, 1202):  # resnet8: a tiny net for smoke runs
    _register_resnet(_depth)
for _depth in (20, 32, 44, 56, 110):
    _register_plain(_depth)
