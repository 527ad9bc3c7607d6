"""An exponential moving average (EMA) of the weights, evaluated beside them
(`optim.ema.decay`; off by default).

After every applied iteration, avg ← decay·avg + (1−decay)·w (Polyak & Juditsky 1992's
averaging in its exponential form; the decay as a setting, as timm's ModelEmaV2). The
average starts at the initial weights and has no bias correction, as ModelEmaV2.

BN statistics: the average covers every floating-point model variable, the running mean
and variance of BN included (ModelEmaV2 averages the module's whole state_dict, buffers
included), so the averaged model is evaluated with averaged statistics and needs no
extra pass over the data. Integer variables (a random layer's step seed) are not averaged.

The averages are `EmaState`, a tf.Module the checkpoint saves, so a resumed run continues
the same average. Training never sees them: they are swapped into the model only to
evaluate (`swapped_in`), and swapped out bitwise (the raw values are kept as arrays).
"""

from __future__ import annotations

import contextlib
from typing import Iterator, List

import keras
import tensorflow as tf


def ema_update(average, value, decay: float):
    """decay·average + (1−decay)·value."""
    return decay * average + (1.0 - decay) * value


def averaged_variables(model: keras.Model) -> List:
    """The model variables an average covers: every floating-point one, in model order."""
    return [v for v in model.variables if "float" in str(v.dtype)]


class EmaState(tf.Module):
    """One average per averaged model variable (checkpointed as `ema`)."""

    def __init__(self, sources: List):
        super().__init__(name="ema")
        self.averages = [tf.Variable(tf.convert_to_tensor(v), trainable=False,
                                     name=f"ema_{i}") for i, v in enumerate(sources)]


class Ema:
    """The EMA of `model`'s weights: `update()` inside the compiled step, after the
    optimizer has applied an iteration; `swapped_in(model)` to evaluate the average."""

    def __init__(self, model: keras.Model, decay: float):
        self.decay = float(decay)
        self.sources = averaged_variables(model)
        self.state = EmaState(self.sources)

    def update(self) -> None:
        for average, source in zip(self.state.averages, self.sources):
            average.assign(ema_update(average, tf.convert_to_tensor(source), self.decay))

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The model holds the averages inside the block, its own weights again after."""
        with swapped(self.sources, self.state.averages):
            yield


@contextlib.contextmanager
def swapped(sources: List, replacements: List) -> Iterator[None]:
    """Assign `replacements` to `sources` for the block; restore the exact values after."""
    kept = [v.numpy() for v in sources]
    for source, replacement in zip(sources, replacements):
        source.assign(tf.convert_to_tensor(replacement))
    try:
        yield
    finally:
        for source, value in zip(sources, kept):
            source.assign(value)
