"""optim.nesterov=true: two steps of train/optimizer.py computed by hand, on
f(w) = ½ Σ a_i w_i² (gradient a·w), a = (2, 0.5), w0 = (1, −2), μ = 0.9, lr = 0.1.

PyTorch's SGD(nesterov=True) form, which SGDMomentum writes out:
    v ← μ·v + g;  w ← w − lr·(g + μ·v)
step 1: g = (2, −1); v = (2, −1); g + μv = (3.8, −1.9); w1 = (0.62, −1.81)
step 2: g = (1.24, −0.905); v = (3.04, −1.805); g + μv = (3.976, −2.5295);
        w2 = (0.2224, −1.55705)
Sutskever et al. 2013 (eq. 3-4) write Nesterov momentum with the gradient at a look-ahead:
    v' = μ·v − ε·∇f(θ + μ·v);  θ' = θ + v'
and the PyTorch weights are that look-ahead point, w_t = θ_t + μ·v_t (Bengio et al. 2013's
reformulation; equal for a constant rate):
θ1 = (0.8, −1.9), v1 = (−0.2, 0.1) → (0.62, −1.81);
θ2 = (0.496, −1.7195), v2 = (−0.304, 0.1805) → (0.2224, −1.55705).
Classical momentum on the same problem goes elsewhere: w1 = (0.8, −1.9), w2 = (0.46, −1.715).
"""

import numpy as np
import pytest

A = np.array([2.0, 0.5])
W0 = np.array([1.0, -2.0])
MU, LR = 0.9, 0.1


def two_steps(nesterov: bool):
    import tensorflow as tf

    from rescore.config import OptimConfig
    from rescore.train.optimizer import SGDMomentum

    w = tf.Variable(W0, dtype=tf.float64)
    opt = SGDMomentum([w], OptimConfig(momentum=MU, nesterov=nesterov))
    trajectory = []
    for _ in range(2):
        # float64 throughout: a Python 0.1 would pass through float32 in tf.cast
        opt.apply([tf.constant(A) * w], [w], tf.constant(LR, tf.float64))
        trajectory.append((w.numpy().copy(), opt.velocities[0].numpy().copy()))
    return trajectory


def sutskever_lookahead_points():
    """Sutskever et al. 2013's Nesterov recursion, returning θ_t + μ·v_t after each step."""
    theta, v, points = W0.copy(), np.zeros(2), []
    for _ in range(2):
        v = MU * v - LR * A * (theta + MU * v)
        theta = theta + v
        points.append(theta + MU * v)
    return points


def test_nesterov_two_steps_by_hand():
    (w1, v1), (w2, v2) = two_steps(nesterov=True)
    np.testing.assert_allclose(v1, [2.0, -1.0], rtol=1e-14)
    np.testing.assert_allclose(w1, [0.62, -1.81], rtol=1e-14)
    np.testing.assert_allclose(v2, [3.04, -1.805], rtol=1e-14)
    np.testing.assert_allclose(w2, [0.2224, -1.55705], rtol=1e-13)


def test_nesterov_weights_are_sutskevers_lookahead_point():
    points = sutskever_lookahead_points()
    np.testing.assert_allclose(points, [[0.62, -1.81], [0.2224, -1.55705]], rtol=1e-13)
    for (w, _), point in zip(two_steps(nesterov=True), points):
        np.testing.assert_allclose(w, point, rtol=1e-13)


def test_classical_momentum_differs_from_nesterov():
    (w1, _), (w2, _) = two_steps(nesterov=False)
    np.testing.assert_allclose(w1, [0.8, -1.9], rtol=1e-14)
    np.testing.assert_allclose(w2, [0.46, -1.715], rtol=1e-14)
    assert not np.allclose(w2, two_steps(nesterov=True)[1][0])


def test_the_config_switch_defaults_to_classical_momentum():
    from rescore.config import OptimConfig

    assert OptimConfig().nesterov is False
    assert pytest.approx(OptimConfig().momentum) == MU
