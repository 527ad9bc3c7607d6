"""Data sets as arrays in memory, loaded once per run: `load_splits(...)`."""

from __future__ import annotations

from typing import Optional

from .pipeline import Splits, make_splits


def load_splits(name: str, root: Optional[str] = None, download: bool = True,
                val_split: int = 0, synthetic_train: int = 2048, synthetic_test: int = 512,
                num_classes: int = 10) -> Splits:
    """Load `cifar10` (real) or `synthetic` and split off the validation subset."""
    if name == "cifar10":
        from .cifar10 import load_cifar10
        arrays = load_cifar10(root, download=download)
        parts = (arrays.x_train, arrays.y_train, arrays.x_test, arrays.y_test)
    elif name == "synthetic":
        from .synthetic import synthetic_cifar
        parts = synthetic_cifar(synthetic_train, synthetic_test, num_classes)
    else:
        raise ValueError(f"unknown data set {name!r}; valid: cifar10, synthetic")
    return make_splits(*parts, val_split=val_split)
