"""Shared test set-up: quiet TensorFlow, and compose the real config from conf/."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from rescore.config import CONF_DIR  # noqa: E402  (the one definition of the config path)


@pytest.fixture
def compose_config():
    """compose_config(overrides) → the composed DictConfig, exactly as the app sees it."""
    from hydra import compose, initialize_config_dir

    from rescore.config import register_resolvers, register_schemas

    register_schemas()
    register_resolvers()

    def _compose(overrides=()):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides),
                           return_hydra_config=True)

    return _compose


@pytest.fixture(scope="module")
def deterministic_ops():
    """TensorFlow's deterministic kernels, for tests that compare runs bit for bit (it stays
    on for the rest of the process, which only makes later tests more repeatable)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


@pytest.fixture(scope="module")
def data():
    """64 synthetic images of 8 classes: the multi-step and device-data tests' training set."""
    from rescore.data.synthetic import synthetic_cifar

    x, y, _, _ = synthetic_cifar(64, 8)
    return x, y
