"""trainer.precision: what computes in which dtype, and the float16 loss scale."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rescore.config import OptimConfig
from rescore.data.synthetic import synthetic_cifar
from rescore.data.pipeline import normalization
from rescore.models import build_model
from rescore.train.optimizer import SGDMomentum
from rescore.train.precision import DynamicLossScale, make_loss_scale, precision_policy
from rescore.train.step import StepInputs, decayed_variables, l2_penalty, make_train_step

BATCH = 8
WD = 1e-4


def step_for(precision, loss_scale=None):
    x, y, _, _ = synthetic_cifar(BATCH, 1)
    keras.utils.set_random_seed(0)
    with precision_policy(precision):
        model = build_model("resnet8")
    optimizer = SGDMomentum(model.trainable_variables, OptimConfig(momentum=0.9))
    mean, std = normalization(x)
    decay = decayed_variables(model, False)  # what OptimConfig(wd_bn=False) decays
    step = make_train_step(model, optimizer, OptimConfig(wd=WD, wd_bn=False),
                           StepInputs(mean, std, seed=0, augment=True), loss_scale=loss_scale)
    return model, decay, step, x, y


def op_dtypes(step, op_type):
    graph = step.get_concrete_function(
        tf.TensorSpec([BATCH, 32, 32, 3], tf.uint8), tf.TensorSpec([BATCH], tf.int32),
        tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.float32)).graph
    return {op.get_attr("T") for op in graph.get_operations() if op.type == op_type}


def loss_float_dtypes(step):
    graph = step.get_concrete_function(
        tf.TensorSpec([BATCH, 32, 32, 3], tf.uint8), tf.TensorSpec([BATCH], tf.int32),
        tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.float32)).graph
    return {out.dtype for op in graph.get_operations()
            if op.name.startswith("SparseSoftmaxCrossEntropyWithLogits")
            for out in op.outputs if out.dtype.is_floating}


def test_policy_is_set_only_while_building():
    with precision_policy("mixed_bfloat16"):
        model = build_model("resnet8")
    assert keras.config.dtype_policy().name == "float32"
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "bfloat16" for layer in convs)
    assert all(v.dtype == "float32" for v in model.variables)


@pytest.mark.slow
def test_bfloat16_convolutions_with_float32_loss_l2_and_variables():
    model, decay, step, x, y = step_for("mixed_bfloat16")
    assert op_dtypes(step, "Conv2D") == {tf.bfloat16}  # forward convolutions
    assert op_dtypes(step, "Conv2DBackpropFilter") == {tf.bfloat16}  # and their gradients
    # the fused op, or (under op determinism) the ops it is decomposed into: every
    # floating output in its name scope is float32
    assert loss_float_dtypes(step) == {tf.float32}
    before = [v.numpy() for v in decay]
    out = step(x, y, tf.constant(0, tf.int64), tf.constant(0.1))
    assert out["loss"].dtype == tf.float32 and out["l2"].dtype == tf.float32
    assert bool(out["finite"]) and np.isfinite(float(out["loss"]))
    # the L2 of this step is the float32 sum over the float32 weights it started from
    expected = 0.5 * WD * sum(np.sum(np.square(w, dtype=np.float32)) for w in before)
    assert float(out["l2"]) == pytest.approx(expected, rel=1e-6)
    assert all(v.dtype == "float32" for v in model.variables)


def test_float32_is_all_float32():
    _, _, step, _, _ = step_for("float32")
    assert op_dtypes(step, "Conv2D") == {tf.float32}


def test_l2_penalty_is_float32_even_for_low_precision_inputs():
    w = tf.Variable(tf.ones([3, 3], tf.float32))
    assert l2_penalty([w], 0.5).dtype == tf.float32


@pytest.mark.slow
def test_float16_trains_with_a_loss_scale():
    scale = make_loss_scale("mixed_float16")
    assert make_loss_scale("mixed_bfloat16") is None and make_loss_scale("float32") is None
    model, _, step, x, y = step_for("mixed_float16", scale)
    assert op_dtypes(step, "Conv2D") == {tf.float16}
    out = step(x, y, tf.constant(0, tf.int64), tf.constant(0.1))
    assert bool(out["finite"]) and float(scale.scale_value) == 2.0 ** 15


@pytest.mark.slow
def test_an_overflowing_float16_step_is_skipped_not_diverged():
    scale = DynamicLossScale(initial=3e38)  # loss × scale overflows even in float32
    model, _, step, x, y = step_for("mixed_float16", scale)
    before = [v.numpy() for v in model.trainable_variables]
    out = step(x, y, tf.constant(0, tf.int64), tf.constant(0.1))
    assert bool(out["finite"])  # the loss was fine: not a divergence
    for w, v in zip(before, model.trainable_variables):
        np.testing.assert_array_equal(w, v.numpy())  # nothing applied
    assert float(scale.scale_value) == pytest.approx(1.5e38)


def test_dynamic_loss_scale_halves_on_overflow_and_doubles_after_a_good_run():
    scale = DynamicLossScale(initial=8.0, growth_interval=3)
    for finite, expected in [(True, 8), (True, 8), (True, 16), (False, 8), (True, 8),
                             (True, 8), (True, 16)]:
        scale.update(tf.constant(finite))
        assert float(scale.scale_value) == expected


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision"):
        with precision_policy("float8"):
            pass


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_steps_are_repeatable(precision):
    """With op determinism, a mixed-precision run is bitwise repeatable like float32 (it
    gives other weights than float32, so it is a different run, not a faster same run)."""
    from rescore.train.weights import weights_sha256

    tf.config.experimental.enable_op_determinism()
    hashes = []
    for _ in range(2):
        model, _, step, x, y = step_for(precision, make_loss_scale(precision))
        for s in range(2):
            step(x, y, tf.constant(s, tf.int64), tf.constant(0.1))
        hashes.append(weights_sha256(model))
    assert hashes[0] == hashes[1]


def fake_devices(monkeypatch, gpus):
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: list(gpus) if kind == "GPU" else [])


def test_tf32_is_off_on_a_gpu_unless_asked_and_never_touched_on_a_cpu(monkeypatch, caplog):
    """TensorFlow computes float32 convolutions in TF32 on Ampere+ GPUs by default; rescore's
    float32 is float32 there unless trainer.tf32=true. The GPU is faked (none here)."""
    from rescore.config import TrainerConfig
    from rescore.train.precision import set_tensor_float_32

    calls = []
    monkeypatch.setattr(tf.config.experimental, "enable_tensor_float_32_execution",
                        calls.append)
    fake_devices(monkeypatch, ["/physical_device:GPU:0"])
    set_tensor_float_32(TrainerConfig())
    set_tensor_float_32(TrainerConfig(tf32=True))
    assert calls == [False, True]
    fake_devices(monkeypatch, [])
    set_tensor_float_32(TrainerConfig())
    set_tensor_float_32(TrainerConfig(tf32=True))
    assert calls == [False, True]  # on a CPU nothing is set: CPU runs stay bitwise
    assert "trainer.tf32=true does nothing without a GPU" in caplog.text


def test_tf32_is_a_result_key_off_by_default(compose_config):
    from dataclasses import asdict

    from rescore.config import config_digest, to_settings

    def digest(*overrides):
        return config_digest(asdict(to_settings(compose_config(list(overrides)))))

    assert digest() == digest("trainer.tf32=false") == "44136fa355"  # the default's folder
    assert digest("trainer.tf32=true") != digest()  # TF32 makes another run on a GPU


def test_configure_tensorflow_applies_tf32_from_the_trainer_config(monkeypatch):
    from rescore.config import TrainerConfig
    from rescore.train import loop

    seen = []
    monkeypatch.setattr(loop, "set_tensor_float_32", seen.append)
    loop.configure_tensorflow(TrainerConfig(tf32=True))
    assert [t.tf32 for t in seen] == [True]
