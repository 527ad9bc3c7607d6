"""Registered names for the CIFAR bottleneck ResNet v1 (depth 9n+2)."""

from __future__ import annotations

from typing import Optional

from .bottleneck import cifar_bottleneck_resnet
from .registry import MODELS


def _register(depth: int) -> None:
    @MODELS.register(f"resnet{depth}", family="resnet_v1_bottleneck", depth=depth,
                     block="bottleneck", default_shortcut="B")
    def build(num_classes: int = 10, shortcut: Optional[str] = None, **kwargs):
        # shortcut=None -> 'B'; 'A' raises a ValueError explaining why.
        return cifar_bottleneck_resnet(depth, num_classes=num_classes, shortcut=shortcut,
                                       **kwargs)


for _depth in (164,):
    _register(_depth)
