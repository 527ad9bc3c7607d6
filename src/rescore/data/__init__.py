"""Data sets as arrays in memory, loaded once per run: `load_splits(c.data)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .pipeline import Splits, make_splits

if TYPE_CHECKING:
    from ..config import DataConfig


def load_splits(d: "DataConfig") -> Splits:
    """Load `cifar10` (real) or `synthetic` and split off the validation subset."""
    if d.name == "cifar10":
        from .cifar10 import load_cifar10
        arrays = load_cifar10(d.root, download=d.download)
        parts = (arrays.x_train, arrays.y_train, arrays.x_test, arrays.y_test)
    elif d.name == "synthetic":
        from .synthetic import synthetic_cifar
        parts = synthetic_cifar(d.synthetic_train, d.synthetic_test, d.num_classes)
    else:
        raise ValueError(f"unknown data set {d.name!r}; valid: cifar10, synthetic")
    return make_splits(*parts, val_split=d.val_split)
