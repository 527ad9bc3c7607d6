"""Checks shared by the model test files."""

import numpy as np
import tensorflow as tf

# Trainable parameters at 10 classes, worked out by hand in tests/test_models.py's comments
# and pinned there against the built nets; named here for the tests that meet them again.
RESNET8_PARAMS = 75_290  # experiment=smoke's net, option A
RESNET56_PARAMS = 853_018  # Table 6, option A
# Option B adds two 1x1 projections with BN where a CIFAR v1 net changes width:
# (16·32 + 2·32) + (32·64 + 2·64)
OPTION_B_PROJECTION_PARAMS = 2_752


def assert_trains_end_to_end(model, num_classes: int = 10, size: int = 32):
    """Output shape, finite logits, and a nonzero gradient for every trainable variable."""
    x = tf.random.stateless_normal([2, size, size, 3], seed=[1, 2])
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = tf.reduce_sum(tf.square(logits))
    grads = tape.gradient(loss, model.trainable_variables)
    assert logits.shape == (2, num_classes)
    assert np.isfinite(logits.numpy()).all()
    missing = [v.path for v, g in zip(model.trainable_variables, grads)
               if g is None or not np.any(g.numpy())]
    assert missing == []
    return x


def bn_layer_types(model) -> set:
    """The classes of a model's batch-norm layers (fused or Keras' own)."""
    import keras

    return {type(layer) for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)}
