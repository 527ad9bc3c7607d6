"""What the modern switches (issue 15) add to a training step, in one object the step
takes whole: the batch regularisers (data/mixing.py), the loss's label smoothing
(losses.py), and the weight averages updated after each applied iteration (ema.py,
swa.py). `Modern.of(c, model, ...)` is None when every switch is off, and the step is
then the paper's, op for op (the smoke run's weights_sha256 is unchanged).

build.py's `build_run` makes it (so `Run.trackables()` checkpoints the averages) and hands
it to `make_train_step`; the loop evaluates the EMA beside the weights, and `finish_swa`
turns the SWA average into the model between the loop and the final result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

import keras
import numpy as np

from ..config import Config
from ..data.mixing import beta_table, regularize_batch
from .ema import Ema
from .losses import dominant_labels, training_cross_entropy
from .schedule import ema_decay, swa_every, swa_start
from .swa import Swa

if TYPE_CHECKING:
    import tensorflow as tf

    from .build import Run
    from .step import StepInputs


@dataclass
class Modern:
    cutout: int = 0
    mixup: float = 0.0
    cutmix: float = 0.0
    label_smoothing: float = 0.0
    ema: Optional[Ema] = None
    swa: Optional[Swa] = None
    # mixup/CutMix's λ of every iteration, [max_steps] float32 (mixing.beta_table), else None
    lambda_table: Optional["tf.Tensor"] = None

    @classmethod
    def of(cls, c: Config, model: keras.Model, steps_per_epoch: int,
           max_steps: int) -> Optional["Modern"]:
        """The switches of config `c` for `model` (None: all off), for a run of `max_steps`
        iterations (scaled: build_run's). EMA and SWA make their averages here, so they
        exist before a checkpoint restores them; mixup/CutMix draw every iteration's λ."""
        d, o = c.data, c.optim
        ema = Ema(model, ema_decay(o)) if o.ema.decay is not None else None
        swa = None
        if o.swa.start is not None:
            swa = Swa(model, swa_start(o), swa_every(o, steps_per_epoch), max_steps)
        alpha = d.mixup or d.cutmix  # config.py allows one of them at most
        lambda_table = beta_table(c.seed, alpha, max_steps) if alpha > 0 else None
        modern = cls(d.cutout, d.mixup, d.cutmix, o.label_smoothing, ema, swa, lambda_table)
        return modern if modern.any_on else None

    @property
    def any_on(self) -> bool:
        return bool(self.cutout or self.mixup > 0 or self.cutmix > 0
                    or self.label_smoothing > 0 or self.ema or self.swa)

    def trackables(self):
        """The averages a checkpoint must hold (by name)."""
        return {**({"ema": self.ema.state} if self.ema else {}),
                **({"swa": self.swa.state} if self.swa else {})}

    # --- inside the compiled step ---

    def regularize(self, x, labels, seed, step):
        """(normalised images, Mixed or None) after cutout and mixup/CutMix."""
        return regularize_batch(x, labels, seed, step, self.cutout, self.mixup, self.cutmix,
                                self.lambda_table)

    def loss(self, labels, logits, mixed, plain):
        """The training cross-entropy; `plain` (the paper's) when neither smoothing nor
        mixing is on, so the loss stays op for op the paper's then."""
        if self.label_smoothing == 0 and mixed is None:
            return plain(labels, logits)
        return training_cross_entropy(labels, logits, self.label_smoothing, mixed)

    @staticmethod
    def error_labels(labels, mixed):
        return dominant_labels(labels, mixed)

    def after_apply(self, step) -> None:
        if self.ema:
            self.ema.update()
        if self.swa:
            self.swa.update_after(step)


def finish_swa(run: "Run") -> None:
    """After the last iteration, with SWA on: the average becomes the model's weights and
    BN's statistics are recomputed over one epoch of training batches (swa.py). Nothing
    without SWA."""
    swa = run.modern.swa if run.modern is not None else None
    if swa is not None:
        swa.finish(run.model, bn_pass_batches(run.splits.x_train, run.order.batch_size,
                                              run.step_inputs, run.max_steps))


def bn_pass_batches(x_train: np.ndarray, batch_size: int, inputs: "StepInputs",
                    first_step: int) -> Iterator:
    """One epoch of normalised training batches for SWA's BN recompute (swa.py): stored
    order, the remainder dropped; crop and flip (when the run augments) from iterations
    `first_step`, `first_step`+1, … (past the run's last, so still pure)."""
    import tensorflow as tf

    from .step import training_inputs  # the step's own crop, flip, padding and normalisation

    mean = tf.constant(inputs.mean, tf.float32)
    std = tf.constant(inputs.std, tf.float32)
    for i in range(len(x_train) // batch_size):
        images = tf.constant(x_train[i * batch_size:(i + 1) * batch_size])
        yield training_inputs(images, tf.constant(first_step + i, tf.int64), mean, std, inputs)
