"""From arrays in memory to the batches of a run: split, normalisation, batch order.

Nothing here reads files or config: the arrays come in once, and every batch is a pure
function of (seed, iteration). The epoch permutation comes from (seed, epoch); the crop
offsets and flips (augment.py) from (seed, iteration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

SPLIT_SEED = 20160101  # one fixed validation subset for every run, whatever its seed


@dataclass(frozen=True)
class Splits:
    """uint8 NHWC images and int32 labels. `heldout` is what periodic evaluation uses:
    the validation subset when there is one, otherwise the test set (paper Table 6)."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_heldout: np.ndarray
    y_heldout: np.ndarray
    heldout_name: str
    x_test: np.ndarray
    y_test: np.ndarray


def make_splits(x_train, y_train, x_test, y_test, val_split: int = 0) -> Splits:
    """`val_split` > 0 holds out that many training images (the paper's 45k/5k split)."""
    if val_split < 0 or val_split >= len(x_train):
        raise ValueError(f"data.val_split must be in [0, {len(x_train)}), got {val_split}")
    if val_split == 0:
        return Splits(x_train, y_train, x_test, y_test, "test", x_test, y_test)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x_train))
    val, train = np.sort(order[:val_split]), np.sort(order[val_split:])
    return Splits(x_train[train], y_train[train], x_train[val], y_train[val], "val",
                  x_test, y_test)


def normalization(x_train: np.ndarray, kind: str = "pixel_mean") -> Tuple[np.ndarray, np.ndarray]:
    """(mean, std) on the [0, 1] scale, from the training images actually used.

    pixel_mean: the paper's per-pixel mean (32×32×3), std 1.
    channel_std: per-channel mean and std (the common torchvision recipe).
    """
    x = x_train.astype(np.float64) / 255.0
    if kind == "pixel_mean":
        return x.mean(axis=0).astype(np.float32), np.ones((1, 1, 3), np.float32)
    if kind == "channel_std":
        return (x.mean(axis=(0, 1, 2)).reshape(1, 1, 3).astype(np.float32),
                x.std(axis=(0, 1, 2)).reshape(1, 1, 3).astype(np.float32))
    raise ValueError(f"unknown data.normalize {kind!r}; valid: pixel_mean, channel_std")


class BatchOrder:
    """Which training examples make up batch `step`: epoch e is a permutation drawn from
    (seed, e); batch i of the epoch is its i-th slice (the remainder is dropped)."""

    def __init__(self, num_examples: int, batch_size: int, seed: int):
        if batch_size <= 0 or batch_size > num_examples:
            raise ValueError(f"batch size must be in [1, {num_examples}], got {batch_size}")
        self.num_examples = num_examples
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = num_examples // batch_size
        self._epoch: Optional[int] = None
        self._perm: Optional[np.ndarray] = None

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:  # cache one epoch: pure, so caching cannot change results
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
            self._epoch = epoch
        return self._perm

    def indices(self, step: int) -> np.ndarray:
        epoch, i = divmod(step, self.steps_per_epoch)
        return self.permutation(epoch)[i * self.batch_size:(i + 1) * self.batch_size]
