"""Checks shared by the model test files."""

import numpy as np
import tensorflow as tf


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
