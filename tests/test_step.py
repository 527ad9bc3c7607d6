"""The compiled training step: the paper's L2 term, coupled momentum SGD, the finite guard,
and a tiny model that must overfit."""

import numpy as np
import pytest
import tensorflow as tf

from rescore.config import OptimConfig
from rescore.data.synthetic import synthetic_cifar
from rescore.models import build_model
from rescore.train.optimizer import SGDMomentum
from rescore.train.step import (StepInputs, cross_entropy, decayed_variables, l2_penalty,
                                make_train_step, preprocess)

MEAN = np.full((32, 32, 3), 0.5, np.float32)
STD = np.ones((1, 1, 3), np.float32)


def tiny_model(seed=0):
    tf.keras.utils.set_random_seed(seed)
    return build_model("resnet8")


def test_decayed_variables_are_kernels_unless_bn_switch():
    model = build_model("resnet20")
    kernels = decayed_variables(model, include_bn_and_bias=False)
    assert len(kernels) == 19 + 1  # 19 convs and the fc layer
    assert all(v.path.endswith("kernel") for v in kernels)
    everything = decayed_variables(model, include_bn_and_bias=True)
    assert len(everything) == len(model.trainable_variables) == 20 + 2 * 19 + 1


@pytest.mark.parametrize("wd_bn", [False, True])
def test_l2_gradient_is_exactly_wd_times_w(wd_bn):
    model = tiny_model()
    chosen = decayed_variables(model, include_bn_and_bias=wd_bn)
    for v in model.trainable_variables:  # give γ/β/bias nonzero values to see them decay
        v.assign(tf.random.stateless_normal(v.shape, seed=[7, len(v.path)]))
    wd = 1e-4
    with tf.GradientTape() as tape:
        penalty = l2_penalty(chosen, wd)
    grads = tape.gradient(penalty, model.trainable_variables)
    chosen_ids = {id(v) for v in chosen}
    for v, g in zip(model.trainable_variables, grads):
        if id(v) in chosen_ids:
            np.testing.assert_allclose(g.numpy(), wd * v.numpy(), rtol=1e-6, atol=0)
        else:
            assert g is None, f"{v.path} must not be decayed with wd_bn={wd_bn}"
    expected = 0.5 * wd * sum(float(np.sum(v.numpy().astype(np.float64) ** 2)) for v in chosen)
    assert float(penalty) == pytest.approx(expected, rel=1e-5)


def test_sgd_momentum_is_torch_style():
    w = tf.Variable([1.0, -2.0])
    opt = SGDMomentum([w], OptimConfig(momentum=0.9))
    g1, g2 = tf.constant([0.5, 1.0]), tf.constant([-1.0, 2.0])
    opt.apply([g1], [w], 0.1)
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.05, -2.0 - 0.1], rtol=1e-6)
    opt.apply([g2], [w], 0.01)  # v = 0.9 v + g, w -= lr v (the new rate scales all of v)
    v = 0.9 * g1.numpy() + g2.numpy()
    np.testing.assert_allclose(w.numpy(), [0.95, -2.1] - 0.01 * v, rtol=1e-6)


@pytest.mark.slow
def test_one_train_step_applies_ce_gradient_plus_wd_w():
    model = tiny_model()
    x_train, y_train, _, _ = synthetic_cifar(16, 1)
    wd, lr = 5e-3, 0.1
    x = preprocess(x_train, MEAN, STD)
    with tf.GradientTape() as tape:
        ce = cross_entropy(y_train, model(x, training=True))
    ce_grads = tape.gradient(ce, model.trainable_variables)
    before = [v.numpy().copy() for v in model.trainable_variables]
    kernels = {id(v) for v in decayed_variables(model, False)}

    optimizer = SGDMomentum(model.trainable_variables, OptimConfig())
    step = make_train_step(model, optimizer, OptimConfig(wd=wd),
                           StepInputs(MEAN, STD, seed=0, augment=False))
    out = step(x_train, y_train, tf.constant(0, tf.int64), tf.constant(lr))
    assert bool(out["finite"])
    for v, w0, g in zip(model.trainable_variables, before, ce_grads):
        expected = w0 - lr * (g.numpy() + (wd * w0 if id(v) in kernels else 0))
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_non_finite_loss_applies_nothing():
    model = tiny_model()
    x_train, y_train, _, _ = synthetic_cifar(8, 1)
    optimizer = SGDMomentum(model.trainable_variables, OptimConfig())
    step = make_train_step(model, optimizer, OptimConfig(wd=float("nan")),
                           StepInputs(MEAN, STD, seed=0, augment=True))
    before = [v.numpy().copy() for v in model.trainable_variables]
    out = step(x_train, y_train, tf.constant(0, tf.int64), tf.constant(0.1))
    assert not bool(out["finite"])
    for v, w0 in zip(model.trainable_variables, before):
        np.testing.assert_array_equal(v.numpy(), w0)
    assert not any(np.any(vel.numpy()) for vel in optimizer.velocities)


@pytest.mark.slow
def test_tiny_model_overfits_64_images():
    model = tiny_model()
    x_train, y_train, _, _ = synthetic_cifar(64, 1, noise=80.0)
    mean = (x_train / 255.0).mean(axis=0).astype(np.float32)
    optimizer = SGDMomentum(model.trainable_variables, OptimConfig())
    step = make_train_step(model, optimizer, OptimConfig(wd=1e-4),
                           StepInputs(mean, STD, seed=0, augment=False))
    losses = [float(step(x_train, y_train, tf.constant(i, tf.int64), tf.constant(0.05))["loss"])
              for i in range(60)]
    assert losses[0] > 1.5
    assert min(losses[-5:]) < 0.05
