"""He et al. 2016 Fig. 7: the standard deviation of each 3×3 layer's response.

"The responses are the outputs of each 3×3 layer, after BN and before other nonlinearity
(ReLU/addition)." For every BN layer fed by a 3×3 convolution (not the 1×1 projection
shortcuts), the std of all its output values (images × positions × channels) on the
first `n_images` held-out test images, BN in inference mode, from the run's latest
checkpoint. Needs TensorFlow and the run's data; only `--fig7` asks for it.
"""

from __future__ import annotations

import json
from dataclasses import astuple, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import numpy as np

if TYPE_CHECKING:
    from ..config import DataConfig


def three_by_three_bn_layers(model) -> List:
    """BN layers whose input comes straight from a 3×3 Conv2D, in network order."""
    import keras

    chosen = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        producer = layer.input._keras_history.operation
        if isinstance(producer, keras.layers.Conv2D) and tuple(producer.kernel_size) == (3, 3):
            chosen.append(layer)
    return chosen


def response_stds(model, images: np.ndarray, batch_size: int = 250) -> List[float]:
    """std of each 3×3 layer's response over `images` (already normalised floats)."""
    import keras

    layers = three_by_three_bn_layers(model)
    probe = keras.Model(model.input, [layer.output for layer in layers])
    sums = np.zeros(len(layers))
    squares = np.zeros(len(layers))
    counts = np.zeros(len(layers))
    for start in range(0, len(images), batch_size):  # float64 running moments
        outputs = probe(images[start:start + batch_size], training=False)
        for i, out in enumerate(outputs):
            values = np.asarray(out, np.float64)
            sums[i] += values.sum()
            squares[i] += np.square(values).sum()
            counts[i] += values.size
    means = sums / counts
    return list(np.sqrt(np.maximum(squares / counts - means ** 2, 0.0)))


def run_config(run_dir: Path) -> Optional[dict]:
    result = run_dir / "result.json"
    if result.exists():
        return json.loads(result.read_text()).get("config")
    hydra_config = run_dir / ".hydra" / "config.yaml"
    if hydra_config.exists():
        import yaml

        return yaml.safe_load(hydra_config.read_text())
    return None


@lru_cache(maxsize=4)
def _normalised_test_images(data: tuple, n_images: int) -> np.ndarray:
    """Cached per data group (as `astuple(DataConfig)`: the report measures many runs of
    one data set)."""
    from ..config import DataConfig
    from ..data import load_splits
    from ..data.pipeline import normalization

    d = DataConfig(*data)
    splits = load_splits(d)
    mean, std = normalization(splits.x_train, d.normalize)
    images = splits.x_test[:n_images].astype(np.float32) / 255.0
    return (images - mean) / std


def _test_images(d: "DataConfig", n_images: int) -> np.ndarray:
    """The first `n_images` test images, normalised as the run's training split says."""
    return _normalised_test_images(astuple(d), n_images)


def run_response_stds(run_dir: Path, n_images: int = 1000) -> Optional[List[float]]:
    """The run's latest checkpoint → its layer response stds; None without a checkpoint.
    The model is the one the run's config builds, read as rescore eval reads it (a
    checked Config: what the stored config leaves out takes the schema's default)."""
    import tensorflow as tf

    from ..config import Precision
    from ..eval.target import settings_from
    from ..train.build import run_model

    config = run_config(run_dir)
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    if config is None or latest is None:
        return None
    c = settings_from(config, run_dir)
    # measured in float32 whatever the run computed in (the variables are float32 anyway)
    model = run_model(replace(c, trainer=replace(c.trainer, precision=Precision.float32)))
    # The checkpoint also holds the optimizer and run state: only the model is wanted here.
    tf.train.Checkpoint(model=model).restore(latest).expect_partial() \
        .assert_existing_objects_matched()  # never silently keep the random initial weights
    return response_stds(model, _test_images(c.data, n_images))
