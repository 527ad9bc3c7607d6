"""Data sets as arrays in memory, loaded once per run: `load_splits(...)`."""

from __future__ import annotations

from typing import Optional

from .pipeline import Splits, make_splits

NAMES = ("cifar10", "cifar100", "synthetic")


def real_release(name: str):
    """The CifarRelease of a real data set; None for `synthetic` (any number of classes)."""
    if name == "cifar10":
        from .cifar10 import CIFAR10
        return CIFAR10
    if name == "cifar100":
        from .cifar100 import CIFAR100
        return CIFAR100
    return None


def load_splits(name: str, root: Optional[str] = None, download: bool = True,
                val_split: int = 0, synthetic_train: int = 2048, synthetic_test: int = 512,
                num_classes: int = 10) -> Splits:
    """Load `cifar10`, `cifar100` (real) or `synthetic` and split off the validation subset
    (the same way for each: data/pipeline.py)."""
    release = real_release(name)
    if release is not None:
        if num_classes != release.num_classes:  # config.py refuses this at start-up
            raise ValueError(f"{name} has {release.num_classes} classes, not {num_classes}")
        from .cifar_archive import load_release
        arrays = load_release(release, root, download=download)
        parts = (arrays.x_train, arrays.y_train, arrays.x_test, arrays.y_test)
    elif name == "synthetic":
        from .synthetic import synthetic_cifar
        parts = synthetic_cifar(synthetic_train, synthetic_test, num_classes)
    else:
        raise ValueError(f"unknown data set {name!r}; valid: {', '.join(NAMES)}")
    return make_splits(*parts, val_split=val_split)
