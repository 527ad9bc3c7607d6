"""Mixed precision: which dtype the layers compute in, and loss scaling for float16.

`trainer.precision`:
- float32: everything float32 (the default, and the only mode the exact-resume and
  determinism tests pin bitwise).
- mixed_bfloat16: Keras' policy: variables float32, convolutions and matmuls in bfloat16.
  Keras' BatchNormalization upcasts to float32 internally; the loss (step.cross_entropy
  casts the logits) and the explicit L2 (step.l2_penalty casts the weights) stay float32.
  bfloat16 has float32's range, so no loss scaling is needed.
- mixed_float16: the same with float16, whose range is small: the loss is multiplied by a
  dynamic scale before the gradient and the gradients divided after (`DynamicLossScale`).

The policy is captured by each layer when it is built, so it is set only around
`build_model` (`precision_policy`) and the process-wide default is restored after.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Iterator, Optional

import keras
import tensorflow as tf

if TYPE_CHECKING:
    from ..config import TrainerConfig

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
log = logging.getLogger(__name__)


def set_tensor_float_32(t: "TrainerConfig") -> None:
    """TensorFloat-32 as trainer.tf32 says, where a GPU is visible.

    TensorFlow computes float32 convolutions and matmuls in TF32 (a 10-bit mantissa) on
    Ampere and later GPUs by default, so there `precision=float32` would not be float32.
    rescore turns it off unless `trainer.tf32=true`: the paper's recipe computes in float32
    (its 2015 GPUs had no TF32). Without a GPU nothing is called, so CPU runs stay bitwise
    what they were; asking for TF32 there only gets a warning."""
    if not tf.config.list_physical_devices("GPU"):
        if t.tf32:
            log.warning("trainer.tf32=true does nothing without a GPU: TF32 is a GPU mode")
        return
    tf.config.experimental.enable_tensor_float_32_execution(bool(t.tf32))


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Layers built inside compute in `precision`'s dtype; the global policy is restored."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


class DynamicLossScale(tf.Module):
    """The usual dynamic loss scale: halve on an overflow (that step is skipped), double
    after `growth_interval` finite steps in a row. Its two variables are checkpointed with
    the run, so a resumed float16 run continues with the same scale."""

    def __init__(self, initial: float = 2.0 ** 15, growth_interval: int = 2000,
                 name: str = "loss_scale"):
        super().__init__(name=name)
        self.growth_interval = int(growth_interval)
        self.scale_value = tf.Variable(initial, dtype=tf.float32, trainable=False, name="scale")
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps")

    def scale(self, loss):
        return loss * self.scale_value

    def unscale(self, grads):
        inverse = 1.0 / self.scale_value
        return [None if g is None else g * tf.cast(inverse, g.dtype) for g in grads]

    def update(self, grads_finite) -> None:
        """After each step: grow after a run of finite steps, halve on an overflow."""
        grow = tf.logical_and(grads_finite, self.good_steps + 1 >= self.growth_interval)
        self.good_steps.assign(tf.where(grads_finite & ~grow, self.good_steps + 1,
                                        tf.zeros_like(self.good_steps)))
        factor = tf.where(grow, 2.0, tf.where(grads_finite, 1.0, 0.5))
        self.scale_value.assign(tf.maximum(self.scale_value * factor, 1.0))


def make_loss_scale(precision: str) -> Optional[DynamicLossScale]:
    """A loss scale for float16; None for float32 and bfloat16, which do not need one."""
    return DynamicLossScale() if precision == "mixed_float16" else None
