"""CIFAR ResNet v1 and plain nets: sizes pinned to the paper, layers as in the original."""

import functools

import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from _checks import assert_trains_end_to_end
from rescore.models import build_model, count_trainable_params, list_models, model_info
from rescore.models.cifar import blocks_per_stage

# He et al. 2016 Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M, 19.4M (option A).
PINNED_PARAMS = {"resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586,
                 "resnet56": 853_018, "resnet110": 1_727_962, "resnet1202": 19_421_274}
V1_NAMES = [n for n in list_models() if model_info(n)["family"] in ("resnet_v1", "plain")]


@functools.lru_cache(maxsize=None)
def default_model(name):
    """Build each default (option A) model once: ResNet-1202 alone takes ~40 s to build."""
    return build_model(name, shortcut="A")


@pytest.mark.slow
@pytest.mark.parametrize("name, params", sorted(PINNED_PARAMS.items()))
def test_option_a_parameter_counts_match_paper(name, params):
    assert count_trainable_params(default_model(name)) == params


@pytest.mark.slow
@pytest.mark.parametrize("depth", [20, 56, 110])
def test_plain_nets_have_the_same_parameters_as_option_a(depth):
    assert (count_trainable_params(build_model(f"plain{depth}"))
            == PINNED_PARAMS[f"resnet{depth}"])


def test_option_b_and_c_add_projection_parameters():
    # B: two projections (16→32, 32→64), each 1x1 conv + BN γ/β.
    b = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    # C: also a projection on every other block: all 3 of stage 1 (16→16 keeps its
    # size) and the 2 identity blocks of stages 2 and 3.
    c = b + 3 * (16 * 16 + 2 * 16) + 2 * (32 * 32 + 2 * 32) + 2 * (64 * 64 + 2 * 64)
    assert count_trainable_params(build_model("resnet20", shortcut="B")) == 269_722 + b
    assert count_trainable_params(build_model("resnet20", shortcut="C")) == 269_722 + c


@pytest.mark.slow
@pytest.mark.parametrize("name", V1_NAMES)
def test_forward_shape_finite_and_every_variable_gets_a_gradient(name):
    assert_trains_end_to_end(default_model(name))


@pytest.mark.parametrize("depth, n", [(8, 1), (20, 3), (56, 9), (110, 18), (1202, 200)])
def test_blocks_per_stage(depth, n):
    assert blocks_per_stage(depth) == n


@pytest.mark.parametrize("depth", [19, 21, 2, 7])
def test_depth_not_6n_plus_2_is_a_clear_error(depth):
    with pytest.raises(ValueError, match="6n\\+2"):
        blocks_per_stage(depth)


def test_layers_follow_the_original_models():
    model = build_model("resnet20")
    convs = [l for l in model.layers if isinstance(l, layers.Conv2D)]
    bns = [l for l in model.layers if isinstance(l, layers.BatchNormalization)]
    assert len(convs) == 19 and len(bns) == 19
    assert not any(c.use_bias for c in convs)
    assert {(b.momentum, b.epsilon) for b in bns} == {(0.9, 1e-5)}
    strided = [c for c in convs if c.strides != (1, 1)]
    assert [c.name for c in strided] == ["stage2_block1_1_conv", "stage3_block1_1_conv"]
    for conv in strided:  # symmetric 1-pixel padding, then a 'valid' conv
        assert conv.padding == "valid"
        pad = model.get_layer(conv.name + "_pad")
        assert tuple(map(tuple, pad.padding)) == ((1, 1), (1, 1))


def test_stride_two_conv_sees_symmetric_padding():
    """A 3x3 stride-2 conv summing its window: with 1-pixel symmetric padding on an 8x8
    map of ones, the first output reads a 2x2 corner (4) and the centre reads 9 —
    TF's 'same' would pad bottom/right only, giving 9 at the top-left."""
    inputs = tf.keras.Input((8, 8, 1))
    from rescore.models.layers import conv
    out = conv(inputs, 1, 3, 2, name="probe")
    model = tf.keras.Model(inputs, out)
    model.get_layer("probe").kernel.assign(tf.ones((3, 3, 1, 1)))
    y = model(tf.ones((1, 8, 8, 1))).numpy()[0, :, :, 0]
    assert y.shape == (4, 4)
    assert y[0, 0] == 4 and y[1, 1] == 9 and y[3, 3] == 9


def test_option_a_shortcut_subsamples_and_zero_pads():
    from rescore.models.layers import SubsampleZeroPad
    x = tf.reshape(tf.range(2 * 4 * 4 * 2, dtype=tf.float32), (2, 4, 4, 2))
    y = SubsampleZeroPad(2, 3)(x).numpy()
    assert y.shape == (2, 2, 2, 5)
    np.testing.assert_array_equal(y[..., :2], x.numpy()[:, ::2, ::2, :])
    assert not y[..., 2:].any()


def test_option_a_shortcut_gradient_is_the_strided_slices_bit_for_bit():
    """The 1x1 average pool's gradient (layers.py) routes each output's gradient to exactly
    the pixel x[:, ::s, ::s] takes, unscaled, and zero elsewhere; the zero channels pass
    none back. Odd sizes too (a 7x7 input keeps rows and columns 0, 2, 4, 6)."""
    from rescore.models.layers import SubsampleZeroPad
    for shape in ((2, 8, 8, 3), (1, 7, 7, 2)):
        x = tf.random.stateless_normal(shape, seed=(1, 2))
        upstream = tf.random.stateless_normal(
            (shape[0], -(-shape[1] // 2), -(-shape[2] // 2), shape[3] + 4), seed=(3, 4))
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            pooled = tf.reduce_sum(SubsampleZeroPad(2, 4)(x) * upstream)
            sliced = tf.reduce_sum(x[:, ::2, ::2, :] * upstream[..., :shape[3]])
        got, want = tape.gradient(pooled, x).numpy(), tape.gradient(sliced, x).numpy()
        np.testing.assert_array_equal(got, want)
        assert np.count_nonzero(got) == upstream[..., :shape[3]].numpy().size


def test_he_normal_init_is_untruncated_with_fan_in_std():
    tf.keras.utils.set_random_seed(0)
    kernel = build_model("resnet20").get_layer("stage3_block2_1_conv").kernel.numpy()
    std = np.sqrt(2.0 / (3 * 3 * 64))
    assert kernel.std() == pytest.approx(std, rel=0.03)
    # a truncated normal never exceeds 2 std; 36,864 untruncated draws do (~1.7k times)
    assert (np.abs(kernel) > 2 * std).sum() > 1000


def test_same_seed_same_weights():
    def first_kernel(seed):
        tf.keras.utils.set_random_seed(seed)
        return build_model("resnet8").get_layer("stem_conv").kernel.numpy()

    np.testing.assert_array_equal(first_kernel(3), first_kernel(3))
    assert not np.array_equal(first_kernel(3), first_kernel(4))


def test_plain_net_rejects_shortcut_options():
    with pytest.raises(ValueError, match="no shortcuts"):
        build_model("plain20", shortcut="B")


def test_unknown_model_lists_names():
    with pytest.raises(KeyError, match="resnet20"):
        build_model("resnet21")
