"""Registered names for the CIFAR pre-activation ResNets (ResNet v2, He et al. 2016b).

- preact_resnet110: basic units, 6n+2 (n=18), the paper's pre-activation ResNet-110.
- preact_resnet164 / preact_resnet1001: bottleneck units, 9n+2 (n=18 / n=111).
- resnet{56,110,164,1001}_v2: the naming of the Keras `cifar10_resnet` example, whose
  "v2" is always a bottleneck pre-activation net of depth 9n+2 (n=6, 12, 18, 111). They
  are built with the same layout as preact_resnet164/1001 (He et al.'s reference code),
  not with the example's own details (conv biases, an extra stem BN-ReLU, projection on
  the raw input). Beware: resnet110_v2 (bottleneck, n=12) is not preact_resnet110
  (basic, n=18); resnet164_v2 is the same network as preact_resnet164.
"""

from __future__ import annotations

from typing import Optional

from .preact import preact_resnet
from .registry import MODELS


def _register(name: str, depth: int, block: str) -> None:
    @MODELS.register(name, family="resnet_v2", depth=depth, block=block,
                     default_shortcut="B")
    def build(num_classes: int = 10, shortcut: Optional[str] = None, **kwargs):
        # shortcut=None -> 'B'; 'A' raises a ValueError explaining why.
        kwargs.setdefault("name", name)
        return preact_resnet(depth, block=block, num_classes=num_classes, shortcut=shortcut,
                             **kwargs)


_register("preact_resnet110", 110, "basic")
for _depth in (164, 1001):
    _register(f"preact_resnet{_depth}", _depth, "bottleneck")
for _depth in (56, 110, 164, 1001):
    _register(f"resnet{_depth}_v2", _depth, "bottleneck")
