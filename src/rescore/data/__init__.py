"""Data sets as arrays in memory, loaded once per run: `load_splits(c.data)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .pipeline import Splits, make_splits

NAMES = ("cifar10", "cifar100", "synthetic")

if TYPE_CHECKING:
    from ..config import DataConfig


def real_release(name: str):
    """The CifarRelease of a real data set; None for `synthetic` (any number of classes)."""
    if name == "cifar10":
        from .cifar10 import CIFAR10
        return CIFAR10
    if name == "cifar100":
        from .cifar100 import CIFAR100
        return CIFAR100
    return None


def load_splits(d: "DataConfig") -> Splits:
    """Load `cifar10`, `cifar100` (real) or `synthetic` and split off the validation subset
    (the same way for each: data/pipeline.py)."""
    release = real_release(d.name)
    if release is not None:
        if d.num_classes != release.num_classes:  # config.py refuses this at start-up
            raise ValueError(f"{d.name} has {release.num_classes} classes, not {d.num_classes}")
        from .cifar_archive import load_release
        arrays = load_release(release, d.root, download=d.download)
        parts = (arrays.x_train, arrays.y_train, arrays.x_test, arrays.y_test)
    elif d.name == "synthetic":
        from .synthetic import synthetic_cifar
        parts = synthetic_cifar(d.synthetic_train, d.synthetic_test, d.num_classes)
    else:
        raise ValueError(f"unknown data set {d.name!r}; valid: {', '.join(NAMES)}")
    return make_splits(*parts, val_split=d.val_split)
