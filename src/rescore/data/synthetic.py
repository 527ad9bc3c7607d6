"""Synthetic CIFAR-shaped data for offline smoke runs and tests.

Each class has its own random mean image, so a model can actually learn it and a loss
that must fall really falls; images are uint8 NHWC like the real set.
"""

from __future__ import annotations

import numpy as np


def synthetic_cifar(num_train: int, num_test: int, num_classes: int = 10, seed: int = 0,
                    noise: float = 48.0):
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(40, 215, size=(num_classes, 32, 32, 3))

    def draw(n):
        labels = rng.integers(0, num_classes, size=n).astype(np.int32)
        images = prototypes[labels] + rng.normal(0, noise, size=(n, 32, 32, 3))
        return np.clip(images, 0, 255).astype(np.uint8), labels

    x_train, y_train = draw(num_train)
    x_test, y_test = draw(num_test)
    return x_train, y_train, x_test, y_test
