"""model.weights.h5 is repacked compactly (train/weights_file.py): lossless, still a Keras
weights file, and small enough that 32-layer nets fit the repository's 2 MB limit."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from rescore.models import build_model
from rescore.report.publish import MAX_MB, MB
from rescore.train.weights_file import RunDescription, read_description, save_weights_file

REPOSITORY_FILE_LIMIT = MAX_MB * MB  # bytes: what rescore-publish refuses (results/ limit)
RESNET32_FLOAT32_BYTES = 466_426 * 4  # all weights incl. BN statistics (registry: 464,154 trainable)


def description(config=None) -> RunDescription:
    return RunDescription(config=config or {"model": {"name": "resnet32"}},
                          mean=np.full((32, 32, 3), 120.5, np.float32),
                          std=np.ones((32, 32, 3), np.float32),
                          weights_sha256="0" * 64, train_images=50_000)


def h5_contents(path: Path) -> dict:
    """Every dataset's values and every object's attributes, by name."""
    out = {}
    with h5py.File(path, "r") as f:
        out["/"] = (None, dict(f.attrs))

        def visit(name, item):
            attrs = {k: v for k, v in item.attrs.items()}
            out[name] = (item[()] if isinstance(item, h5py.Dataset) else None, attrs)

        f.visititems(visit)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet32", "plain32"])
def test_32_layer_weights_fit_under_2_mb(tmp_path, name):
    model = build_model(name, num_classes=10)
    assert sum(int(np.prod(w.shape)) for w in model.weights) == RESNET32_FLOAT32_BYTES // 4
    path = save_weights_file(tmp_path / "model.weights.h5", model, description())
    model.save_weights(tmp_path / "keras.weights.h5")  # what Keras alone writes
    assert (tmp_path / "keras.weights.h5").stat().st_size > REPOSITORY_FILE_LIMIT
    assert path.stat().st_size < REPOSITORY_FILE_LIMIT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keras.weights.h5", "model.weights.h5"]


@pytest.mark.slow
def test_repacking_keeps_every_value_and_attribute_and_keras_reads_it(tmp_path):
    model = build_model("resnet20", num_classes=10)
    path = save_weights_file(tmp_path / "model.weights.h5", model, description())
    model.save_weights(tmp_path / "keras.weights.h5")
    ours, keras_own = h5_contents(path), h5_contents(tmp_path / "keras.weights.h5")
    assert set(ours) - set(keras_own) == {"rescore", "rescore/mean", "rescore/std"}
    for name, (values, attrs) in keras_own.items():
        assert str(ours[name][1]) == str(attrs), name
        if values is not None:
            assert ours[name][0].dtype == values.dtype and np.array_equal(ours[name][0], values)

    other = build_model("resnet20", num_classes=10)
    other.load_weights(path)
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(model.weights, other.weights))
    stored = read_description(path)
    assert stored.train_images == 50_000 and float(stored.mean[0, 0, 0]) == 120.5
