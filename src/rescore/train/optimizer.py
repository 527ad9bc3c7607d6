"""SGD with momentum in the Torch/PyTorch form, written out so nothing is implicit.

    v ← μ·v + g          w ← w − lr·v           (nesterov: w ← w − lr·(g + μ·v))

The nesterov branch is PyTorch's SGD(nesterov=True): Nesterov momentum as Sutskever et al.
2013 ("On the importance of initialization and momentum in deep learning", ICML, eq. 3-4:
v' = μv − ε∇f(θ + μv), θ' = θ + v') rewritten so that the weights are the look-ahead point
θ + μv (tests/test_optimizer_nesterov.py). The paper uses classical momentum (off).

Keras' SGD keeps v ← μ·v − lr·g instead, which differs whenever the rate changes; and
weight decay is not here at all: it is an explicit term of the loss (see step.py).
The momentum buffers are tf.Variables created up front, so a checkpoint restore always
finds them (nothing is created lazily at the first step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import tensorflow as tf

if TYPE_CHECKING:
    from ..config import OptimConfig


class SGDMomentum(tf.Module):
    """Takes the optim group whole: a new optimiser setting goes into the schema
    (config.OptimConfig) and here, and nothing between changes."""

    def __init__(self, variables: Sequence[tf.Variable], o: "OptimConfig", name: str = "sgd"):
        super().__init__(name=name)
        self.momentum = float(o.momentum)
        self.nesterov = bool(o.nesterov)
        self.velocities = [
            tf.Variable(tf.zeros(v.shape, dtype=v.dtype), trainable=False,
                        name=f"velocity_{i}")
            for i, v in enumerate(variables)]

    def apply(self, grads, variables, lr) -> None:
        for g, w, v in zip(grads, variables, self.velocities):
            g = tf.cast(g, v.dtype)
            v.assign(self.momentum * v + g)
            update = g + self.momentum * v if self.nesterov else v
            w.assign_sub(tf.cast(lr, w.dtype) * update)
