"""Evaluate a resolved target (target.py) the way a run's result.json was computed: the
model the run's config builds, its weights loaded strictly and their sha256 checked, the
test set as the single original view, normalised with what the run trained with, through
the training code's own evaluation step and batch size (train/step.py)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Optional

import keras
import tensorflow as tf

from ..config import Config, DataConfig
from ..data import load_splits
from ..data.pipeline import Splits, normalization
from ..errors import WeightsError
from ..models import count_trainable_params, resolved_shortcut
from ..train.build import run_model
from ..train.loop import configure_tensorflow
from ..train.step import evaluate, make_eval_step
from ..train.weights import weights_sha256
from ..train.weights_file import stored_array_shapes
from .target import Target


@dataclass(frozen=True)
class Outcome:
    test_error: float
    test_loss: float
    test_images: int
    params: int  # trainable, as result.json counts them
    weights_sha256: str
    train_images: int  # how many training images the normalisation is of
    val_error: Optional[float] = None  # with a validation split (data.val_split > 0)
    val_loss: Optional[float] = None
    val_images: int = 0


@dataclass
class EvalSession:
    """What one `rescore eval` sets up once for every model it checks (a run's raw weights,
    then its EMA weights): TensorFlow's settings, and the data set, read when the first
    target whose weights passed asks for it, and again only for another data config."""
    data_root: Optional[str] = None  # --data-root; None: data.root as the run had it
    _configured: bool = False
    _splits: Optional[Splits] = field(default=None, repr=False)
    _splits_of: Optional[DataConfig] = None

    def configure(self, c: Config) -> None:
        if not self._configured:
            configure_tensorflow(c.trainer)
            self._configured = True

    def splits(self, c: Config) -> Splits:
        # Never download (eval writes nothing); data.root as the run had it unless overridden.
        wanted = replace(c.data, download=False, root=self.data_root or c.data.root)
        if wanted != self._splits_of:
            self._splits, self._splits_of = load_splits(wanted), wanted
        return self._splits


def check(target: Target, session: Optional[EvalSession] = None) -> Outcome:
    """Raises WeightsError (weights that do not fit, or hash to something else than
    recorded) before any data is read, DataError when the data set is missing."""
    session = session or EvalSession()
    c = target.settings
    session.configure(c)
    model = run_model(c)
    load_weights(model, target)
    sha = weights_sha256(model)
    if target.expected_sha256 is not None and sha != target.expected_sha256:
        raise WeightsError(
            f"the weights loaded from {target.weights} have sha256 {sha}, but "
            f"{target.expected_from} records {target.expected_sha256}: they are not that "
            f"run's final weights")
    splits = session.splits(c)
    stored = target.stored_normalization
    mean, std = stored if stored else normalization(splits.x_train, c.data.normalize)
    eval_step = make_eval_step(model, mean, std, jit_compile=c.trainer.jit_compile)
    # The order matters for the last bits of the loss: the step is traced for the shape of
    # the first batch it sees, and once more for any shape (reduce_retracing) when another
    # shape comes. In training the held-out split came first (every eval_every iterations,
    # and at the end), so with a validation split it comes first here too.
    val = (evaluate(eval_step, splits.x_heldout, splits.y_heldout, c.data.eval_batch_size)
           if splits.heldout_name == "val" else None)
    test = evaluate(eval_step, splits.x_test, splits.y_test, c.data.eval_batch_size)
    train_images = (target.description.train_images if target.description
                    else len(splits.x_train))
    return Outcome(test_error=test["error"], test_loss=test["loss"],
                   test_images=len(splits.x_test), params=count_trainable_params(model),
                   weights_sha256=sha, train_images=train_images,
                   val_error=val and val["error"], val_loss=val and val["loss"],
                   val_images=len(splits.x_heldout) if val else 0)


def load_weights(model: keras.Model, target: Target) -> None:
    if target.from_checkpoint:
        load_checkpoint(model, target)
    else:
        load_weights_file(model, target)


def load_weights_file(model: keras.Model, target: Target) -> None:
    """Every weight of the model from the file, and every array of the file into the model.

    Keras matches a file to a model by layer type and position and checks shapes; a file
    with arrays to spare (a deeper net's, or option B's projections) would load into the
    first layers without a word. So the shapes are compared as a whole first."""
    path = target.weights
    wanted = sorted(tuple(v.shape) for v in model.weights)
    stored = stored_array_shapes(path)
    if stored != wanted:
        raise WeightsError(
            f"{path} does not fit {describe_model(target)}: the file holds {len(stored)} "
            f"arrays ({sum(map(math.prod, stored)):,} values), the model has "
            f"{len(wanted)} weights ({sum(map(math.prod, wanted)):,} values)")
    try:
        with warnings.catch_warnings():  # Keras warns per layer group it cannot match
            warnings.simplefilter("ignore")
            model.load_weights(path)
    except ValueError as err:  # same shapes, in another order: another architecture
        first = str(err).strip().splitlines()[0]
        raise WeightsError(f"{path} does not fit {describe_model(target)}: {first}") from err


def load_checkpoint(model: keras.Model, target: Target) -> None:
    """Only the model from a training checkpoint (it also holds the optimizer and state)."""
    try:
        tf.train.Checkpoint(model=model).restore(str(target.weights)).expect_partial() \
            .assert_existing_objects_matched()  # never keep the random initial weights
    # a truncated checkpoint surfaces as IndexError too (train/checkpoint.py saw it)
    except (AssertionError, ValueError, IndexError, tf.errors.OpError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"checkpoint {target.weights} does not fit "
                           f"{describe_model(target)}: {first[:300]}") from err


def describe_model(target: Target) -> str:
    c = target.settings
    shortcut = resolved_shortcut(c.model.name, c.shortcut.option)
    parts = [c.model.name] + ([f"shortcut {shortcut}"] if shortcut else [])
    parts += [f"{c.data.num_classes} classes", f"batchnorm {c.model.batchnorm}",
              c.trainer.precision]
    if c.model.kwargs:
        parts.append(", ".join(f"{k}={v}" for k, v in sorted(c.model.kwargs.items())))
    return ", ".join(parts)
