"""The fused BN layer (models/batchnorm.py) against Keras' own: the same output, gradients
and running mean; the running variance unbiased (× m/(m-1)), as Caffe and Torch keep it."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _checks import bn_layer_types

from rescore.models import build_model
from rescore.models.batchnorm import FusedBatchNormalization, batchnorm_kind
from rescore.models.layers import BN_EPSILON, BN_MOMENTUM

SHAPE = (8, 6, 6, 5)  # m = 8·6·6 = 288 values per channel


def pair():
    """A fused and a stock layer with the same non-trivial weights and statistics."""
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.5, 2.0, 5), rng.normal(size=5), rng.normal(size=5),
               rng.uniform(0.5, 2.0, 5)]  # gamma, beta, moving mean, moving variance
    made = []
    for cls in (FusedBatchNormalization, keras.layers.BatchNormalization):
        layer = cls(momentum=BN_MOMENTUM, epsilon=BN_EPSILON)
        layer.build(SHAPE)
        layer.set_weights([w.astype(np.float32) for w in weights])
        made.append(layer)
    return made


def forward_backward(layer, x, training=True):
    x = tf.constant(x)
    upstream = tf.constant(np.random.default_rng(2).normal(size=SHAPE).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(y * upstream)
    dx, dgamma, dbeta = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return y.numpy(), dx.numpy(), dgamma.numpy(), dbeta.numpy()


def test_training_output_gradients_and_statistics_match_keras_up_to_bessel():
    fused, stock = pair()
    x = (np.random.default_rng(1).normal(size=SHAPE) * 3 + 1).astype(np.float32)
    for got, want in zip(forward_backward(fused, x), forward_backward(stock, x)):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(fused.moving_mean.numpy(), stock.moving_mean.numpy(),
                               rtol=1e-6)
    # Running variance: 0.9·v + 0.1·(unbiased batch variance). Solve both for the batch
    # variance they used; the ratio must be m/(m-1) exactly (to float rounding).
    v0 = pair()[0].moving_variance.numpy()
    fused_batch_var = (fused.moving_variance.numpy() - BN_MOMENTUM * v0) / (1 - BN_MOMENTUM)
    stock_batch_var = (stock.moving_variance.numpy() - BN_MOMENTUM * v0) / (1 - BN_MOMENTUM)
    m = SHAPE[0] * SHAPE[1] * SHAPE[2]
    np.testing.assert_allclose(fused_batch_var / stock_batch_var, m / (m - 1), rtol=1e-5)
    np.testing.assert_allclose(stock_batch_var, x.reshape(-1, 5).var(axis=0), rtol=1e-4)


def test_inference_is_keras_own_path():
    fused, stock = pair()
    x = np.random.default_rng(3).normal(size=SHAPE).astype(np.float32)
    np.testing.assert_array_equal(fused(x, training=False).numpy(),
                                  stock(x, training=False).numpy())


def test_bfloat16_activations_keep_float32_statistics():
    layer = FusedBatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                    dtype=keras.dtype_policies.DTypePolicy("mixed_bfloat16"))
    x = tf.cast(tf.random.normal(SHAPE, seed=4) * 2 + 3, tf.bfloat16)
    y = layer(x, training=True)
    assert y.dtype == tf.bfloat16 and layer.moving_mean.dtype == "float32"
    assert layer.moving_mean.numpy() == pytest.approx(0.1 * 3, abs=0.05)
    out = y.numpy().astype(np.float32).reshape(-1, 5)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=0.02)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=0.02)


@pytest.mark.parametrize("kind, cls", [("fused", FusedBatchNormalization),
                                       ("keras", keras.layers.BatchNormalization)])
def test_build_model_uses_the_kind_asked_for_and_the_same_weights(kind, cls):
    model = build_model("resnet8", batchnorm=kind)
    assert bn_layer_types(model) == {cls}
    assert model.count_params() == build_model("resnet8", batchnorm="keras").count_params()


def test_an_unknown_kind_is_refused_and_the_valid_ones_named():
    with pytest.raises(ValueError, match="unknown batchnorm kind 'fast'; valid: fused, keras"):
        with batchnorm_kind("fast"):
            pass


@pytest.mark.slow
def test_a_run_under_xla_logs_the_losses_of_the_plain_run(compose_config, tmp_path):
    """trainer.jit_compile=true compiles the whole step, fused BN and augmentation included,
    with XLA: the logged training losses match the run without it to float tolerance (XLA
    may fuse and reorder arithmetic, so not bitwise)."""
    from test_multistep import train_run

    from rescore.train.logging import read_metrics

    plain = train_run(compose_config, tmp_path, "plain")
    xla = train_run(compose_config, tmp_path, "xla", "trainer.jit_compile=true")

    def losses(name):
        return [r["loss"] for r in read_metrics(tmp_path / name / "metrics.jsonl")
                if r["split"] == "train"]

    assert len(losses("xla")) == len(losses("plain")) == 4  # iterations 3, 6, 9, 10
    np.testing.assert_allclose(losses("xla"), losses("plain"), rtol=1e-4)
    assert xla["test_error"] == pytest.approx(plain["test_error"], abs=1 / 32 + 1e-9)
