"""Registered names for the ImageNet-style ResNets (torchvision layout, "v1.5").

`build_model("resnet50", num_classes=1000)` gives the 224x224 ImageNet net;
`stem="cifar"` swaps in a 3x3/1 stem without max-pool for 32x32 inputs (what the
conf/model configs select). input_shape defaults to match the stem.
"""

from __future__ import annotations

from typing import Optional

from .imagenet import IMAGENET_STAGES, imagenet_resnet
from .registry import MODELS


def _register(depth: int) -> None:
    block, _ = IMAGENET_STAGES[depth]

    @MODELS.register(f"resnet{depth}", family="imagenet", depth=depth, block=block,
                     default_shortcut="B")
    def build(num_classes: int = 10, shortcut: Optional[str] = None, **kwargs):
        # shortcut=None -> 'B'; 'A' raises a ValueError explaining why.
        return imagenet_resnet(depth, num_classes=num_classes, shortcut=shortcut, **kwargs)


for _depth in IMAGENET_STAGES:
    _register(_depth)
