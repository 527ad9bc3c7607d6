"""He et al. 2016 Fig. 7: the standard deviation of each 3×3 layer's response.

"The responses are the outputs of each 3×3 layer, after BN and before other nonlinearity
(ReLU/addition)." For every BN layer fed by a 3×3 convolution (not the 1×1 projection
shortcuts), the std of all its output values (images × positions × channels) on the
first `n_images` held-out test images, BN in inference mode, from the run's latest
checkpoint. Needs TensorFlow and the run's data; only `--fig7` asks for it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import List, Optional

import numpy as np


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
def _test_images(name, root, download, val_split, synthetic_train, synthetic_test,
                 num_classes, normalize, n_images):
    from ..data import load_splits
    from ..data.pipeline import normalization

    splits = load_splits(name, root, download, val_split, synthetic_train, synthetic_test,
                         num_classes)
    mean, std = normalization(splits.x_train, normalize)
    images = splits.x_test[:n_images].astype(np.float32) / 255.0
    return (images - mean) / std


def run_response_stds(run_dir: Path, n_images: int = 1000) -> Optional[List[float]]:
    """The run's latest checkpoint → its layer response stds; None without a checkpoint."""
    import tensorflow as tf

    from ..config import UnitConfig
    from ..models import build_model

    config = run_config(run_dir)
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    if config is None or latest is None:
        return None
    d = config["data"]
    model = build_model(config["model"]["name"], num_classes=d.get("num_classes", 10),
                        shortcut=config["shortcut"]["option"],
                        batchnorm=config["model"].get("batchnorm", "keras"),
                        unit=UnitConfig(**config.get("unit", {})),  # none before units existed
                        **(config["model"].get("kwargs") or {}))
    # The checkpoint also holds the optimizer and run state: only the model is wanted here.
    tf.train.Checkpoint(model=model).restore(latest).expect_partial() \
        .assert_existing_objects_matched()  # never silently keep the random initial weights
    images = _test_images(d["name"], d.get("root"), d.get("download", True),
                          d.get("val_split", 0), d.get("synthetic_train", 2048),
                          d.get("synthetic_test", 512), d.get("num_classes", 10),
                          d.get("normalize", "pixel_mean"), n_images)
    return response_stds(model, images)
