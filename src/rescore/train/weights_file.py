"""A finished run's final weights as one self-describing file: `model.weights.h5` (and,
with EMA on, the averaged weights as `model_ema.weights.h5`).

Keras writes the weights (its groups `layers/…` and `vars`, read back by
`model.load_weights`). rescore adds one group of its own, `rescore`, which Keras'
loader never visits (it walks the model, not the file), so the file still loads into a
plain Keras model:

    rescore/mean, rescore/std   float32: the normalisation the run trained with, exactly
                                the arrays its training and evaluation steps used (the
                                per-pixel mean of its training split, std 1; or the
                                channel mean and std with data.normalize=channel_std)
    rescore attributes          format, config (the run's full config as JSON: how to build
                                the model and which data set it is for), weights_sha256
                                (train/weights.py, of the saved model), train_images (how
                                many training images the normalisation is of)

So a lone weights file says what it is, how to rebuild its model and how to normalise the
images it expects, and `rescore eval` can check it against its own hash.

Keras' own file spends about 300 KB on HDF5's per-object bookkeeping (hundreds of groups in
the original layout), which puts a ResNet-32 (0.46M parameters, 1.87 MB of float32) at
2.16 MB. The file is therefore repacked, losslessly: the same groups, datasets and
attributes in HDF5's compact newer layout (`libver="latest"`, readable by HDF5 >= 1.10,
which every h5py wheel since 3.0 bundles), large arrays byte-shuffled and gzipped. A
ResNet-32 then takes about 1.8 MB, so published 32-layer weights fit the repository's
2 MB limit; Keras reads the file as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import h5py
import numpy as np

WEIGHTS_FILE = "model.weights.h5"  # beside result.json in a run folder
# With optim.ema on, the averaged weights too (train/ema.py; result.json's ema_* keys), in
# the same format, so `rescore eval` can check ema_test_error as it checks test_error.
EMA_WEIGHTS_FILE = "model_ema.weights.h5"
SUFFIX = ".weights.h5"  # Keras' load_weights/save_weights insist on it
GROUP = "rescore"
FORMAT = "rescore-weights/1"
COMPRESS_FROM = 4096  # elements; smaller arrays (BN vectors, biases) cost more as chunks


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays is ambiguous
class RunDescription:
    """What rescore stores beside the Keras weights."""
    config: Dict[str, Any]
    mean: np.ndarray
    std: np.ndarray
    weights_sha256: str
    train_images: int


def save_weights_file(path: Path, model, description: RunDescription) -> Path:
    """Write the weights and the description under a temporary name, then rename: a kill
    never leaves a half-written file under the final name."""
    path = Path(path)
    stem = path.name[:-len(SUFFIX)]
    keras_file = path.with_name(stem + ".keras-partial" + SUFFIX)
    temporary = path.with_name(stem + ".partial" + SUFFIX)
    try:
        model.save_weights(keras_file)
        repack_compact(keras_file, temporary)
    finally:
        keras_file.unlink(missing_ok=True)
    with h5py.File(temporary, "a") as f:
        group = f.create_group(GROUP)
        group.create_dataset("mean", data=np.asarray(description.mean, np.float32))
        group.create_dataset("std", data=np.asarray(description.std, np.float32))
        group.attrs["format"] = FORMAT
        group.attrs["config"] = json.dumps(description.config, sort_keys=True)
        group.attrs["weights_sha256"] = description.weights_sha256
        group.attrs["train_images"] = int(description.train_images)
    temporary.replace(path)
    return path


def repack_compact(source: Path, target: Path) -> None:
    """Copy every group, dataset and attribute of `source` into `target` in the compact
    layout described above. Values are copied exactly (gzip and shuffle are lossless)."""
    with h5py.File(source, "r") as old, h5py.File(target, "w", libver="latest") as new:
        _copy_attributes(old, new)

        def visit(name: str, item) -> None:
            if isinstance(item, h5py.Group):
                _copy_attributes(item, new.require_group(name))
                return
            compress = item.size >= COMPRESS_FROM
            copied = new.create_dataset(
                name, data=item[()],
                **(dict(compression="gzip", compression_opts=9, shuffle=True) if compress
                   else {}))
            _copy_attributes(item, copied)

        old.visititems(visit)


def _copy_attributes(source, target) -> None:
    for key, value in source.attrs.items():
        target.attrs[key] = value


def read_description(path: Path) -> Optional[RunDescription]:
    """The rescore group of a weights file; None for a file without one (plain Keras
    weights, or a file written before rescore stored it). Raises OSError for a file h5py
    cannot read, KeyError/ValueError for a rescore group that is incomplete."""
    with h5py.File(path, "r") as f:
        if GROUP not in f:
            return None
        group = f[GROUP]
        return RunDescription(config=json.loads(group.attrs["config"]),
                              mean=group["mean"][()], std=group["std"][()],
                              weights_sha256=str(group.attrs["weights_sha256"]),
                              train_images=int(group.attrs["train_images"]))


def stored_array_shapes(path: Path) -> list:
    """The shape of every array Keras stored (the rescore group left out), sorted: a model
    takes the file whole only if its own weights have exactly these shapes."""
    shapes = []

    def visit(name: str, item) -> None:
        if isinstance(item, h5py.Dataset) and name.split("/", 1)[0] != GROUP:
            shapes.append(tuple(item.shape))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return sorted(shapes)
