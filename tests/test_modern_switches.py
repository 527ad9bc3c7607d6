"""The modern training switches (issue 15), one by one: label smoothing, cutout, mixup,
CutMix, EMA, SWA. Hand-computed values and pinned draws; the whole-run checks (EMA alone
trains the plain run's weights bitwise, each switch changes them, resume with EMA and mixup,
no switch object built when all are off) are in tests/test_modern_run.py."""

import math

import numpy as np
import pytest
import tensorflow as tf

from rescore.data.mixing import (beta_draw, beta_table, cutmix, cutmix_box, cutout,
                                 cutout_centers, mixup, regularize_batch, square_mask,
                                 table_lambda)
from rescore.train.ema import Ema, ema_update
from rescore.train.losses import (dominant_labels, smoothed_targets, training_cross_entropy)
from rescore.train.step import cross_entropy
from rescore.train.swa import recompute_bn_statistics, sample_due, swa_update

# --- label smoothing (Szegedy et al. 2016 §7) -------------------------------------------


def test_label_smoothing_loss_equals_the_hand_computed_value():
    # logits (0, ln 2, ln 5) over K=3: softmax = (1, 2, 5)/8; label 1, ε = 0.3:
    # target = (0.1, 0.8, 0.1); loss = −(0.1·ln(1/8) + 0.8·ln(2/8) + 0.1·ln(5/8))
    logits = tf.constant([[0.0, math.log(2.0), math.log(5.0)]])
    expected = -(0.1 * math.log(1 / 8) + 0.8 * math.log(2 / 8) + 0.1 * math.log(5 / 8))
    got = float(training_cross_entropy(tf.constant([1]), logits, 0.3))
    assert got == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.36398, abs=1e-5)  # 0.1·ln 8 + 0.8·ln 4 + 0.1·ln 1.6


def test_smoothed_targets_sum_to_one_and_put_one_minus_eps_plus_eps_over_k_on_the_label():
    t = smoothed_targets(tf.constant([2, 0]), 4, 0.1).numpy()
    np.testing.assert_allclose(t.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(t[0], [0.025, 0.025, 0.925, 0.025], rtol=1e-6)


def test_without_smoothing_the_soft_loss_is_the_papers_cross_entropy():
    logits = tf.random.stateless_normal([8, 10], seed=[1, 2])
    labels = tf.constant([0, 1, 2, 3, 4, 5, 6, 7])
    assert float(training_cross_entropy(labels, logits, 0.0)) == pytest.approx(
        float(cross_entropy(labels, logits)), rel=1e-6)


# --- mixup (Zhang et al. 2018) ----------------------------------------------------------


def test_mixup_loss_at_lambda_one_equals_plain_cross_entropy():
    images = tf.random.stateless_normal([6, 4, 4, 3], seed=[3, 4])
    labels = tf.constant([0, 1, 2, 3, 4, 5])
    mixed_images, mixed = mixup(images, labels, tf.constant(1.0))
    np.testing.assert_array_equal(mixed_images.numpy(), images.numpy())
    logits = tf.random.stateless_normal([6, 10], seed=[5, 6])
    assert float(training_cross_entropy(labels, logits, 0.0, mixed)) == pytest.approx(
        float(cross_entropy(labels, logits)), rel=1e-6)


def test_mixup_mixes_each_image_with_the_reversed_batch_and_its_targets_alike():
    images = tf.reshape(tf.range(3 * 2 * 2 * 1, dtype=tf.float32), [3, 2, 2, 1])
    labels = tf.constant([0, 1, 2])
    out, mixed = mixup(images, labels, tf.constant(0.25))
    np.testing.assert_allclose(out.numpy()[0], 0.25 * images[0] + 0.75 * images[2])
    assert mixed.partners.numpy().tolist() == [2, 1, 0]
    logits = tf.random.stateless_normal([3, 3], seed=[7, 8])
    lam_ce = (0.25 * float(cross_entropy(labels, logits))
              + 0.75 * float(cross_entropy(mixed.partners, logits)))
    assert float(training_cross_entropy(labels, logits, 0.0, mixed)) == pytest.approx(
        lam_ce, rel=1e-6)
    # the training error counts against the larger share: the partner here
    assert dominant_labels(labels, mixed).numpy().tolist() == [2, 1, 0]


def test_beta_draws_repeat_for_the_same_seed_and_step_and_differ_across_steps():
    draws = [float(beta_draw(0, step, 0.2)) for step in range(6)]
    assert draws == [float(beta_draw(0, step, 0.2)) for step in range(6)]
    assert len(set(draws)) == 6
    assert all(0.0 <= d <= 1.0 for d in draws)
    assert float(beta_draw(1, 0, 0.2)) != draws[0]  # and across seeds


# seed 3, α 0.2: λ of iterations 0, 1, 7, 12345 and 63999 (two stateless Gamma draws each)
PINNED_LAMBDAS = {0: 0.07224261, 1: 0.47081414, 7: 0.09361568, 12345: 0.45404956,
                  63999: 3.150002e-05}


def test_the_lambda_table_holds_each_iterations_own_draw_bit_for_bit():
    """The run's λ are drawn once before training (beta_table) and looked up in the step:
    each must be the very float32 the step drew for itself before (beta_draw), so mixup runs
    without XLA train the same bits as before the table."""
    table = beta_table(3, 0.2, 64000).numpy()
    assert table.shape == (64000,) and table.dtype == np.float32
    for step, pinned in PINNED_LAMBDAS.items():
        assert table[step] == np.float32(pinned)
        assert table[step] == beta_draw(3, tf.constant(step, tf.int64), 0.2).numpy()


@pytest.mark.parametrize("jit_compile", [False, True])
def test_iterations_past_the_table_reuse_it_cyclically(jit_compile):
    """Only the bench numbers iterations past a run's last; they must neither raise (CPU)
    nor read a clamped or zero λ (XLA, GPU): iteration 7 of a 5-entry table is entry 2."""
    table = beta_table(3, 0.2, 5)
    look_up = tf.function(table_lambda, jit_compile=jit_compile)
    for step, entry in ((0, 0), (4, 4), (5, 0), (7, 2), (12345, 0)):
        assert look_up(table, tf.constant(step, tf.int64)).numpy() == table.numpy()[entry]


@pytest.mark.parametrize("switch", ["mixup", "cutmix"])
def test_mixup_and_cutmix_under_xla_mix_with_the_same_lambda(switch):
    """trainer.jit_compile=true: the stateless Gamma has no XLA kernel, so the step gathers
    λ from the table; XLA and non-XLA runs mix the same pairs with the same λ (and CutMix
    pastes the same box, bit for bit; mixup's λ·x + (1−λ)·x' may round differently)."""
    images = tf.random.stateless_normal([8, 32, 32, 3], seed=[1, 2])
    labels = tf.range(8)
    lams = beta_table(3, 1.0, 50)
    alphas = {"mixup_alpha": 1.0} if switch == "mixup" else {"cutmix_alpha": 1.0}

    def apply(x, step):
        mixed_images, mixed = regularize_batch(x, labels, 3, step, lambda_table=lams, **alphas)
        return mixed_images, mixed.lam, mixed.partners

    step = tf.constant(7, tf.int64)
    plain = apply(images, step)
    compiled = tf.function(apply, jit_compile=True)(images, step)
    drawn_lam = beta_draw(3, step, 1.0)  # the λ the step drew for itself before the table
    drawn_here = (mixup(images, labels, drawn_lam) if switch == "mixup"
                  else cutmix(images, labels, drawn_lam, 3, step))
    assert compiled[1].numpy() == plain[1].numpy() == drawn_here[1].lam.numpy()
    np.testing.assert_array_equal(compiled[2], plain[2])
    if switch == "cutmix":
        np.testing.assert_array_equal(compiled[0], plain[0])
    else:
        np.testing.assert_allclose(compiled[0], plain[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(plain[0], drawn_here[0])


def test_mixing_without_the_lambda_table_says_what_is_missing():
    with pytest.raises(ValueError, match="pass lambda_table"):
        regularize_batch(tf.zeros([2, 4, 4, 3]), tf.constant([0, 1]), 0, 0, mixup_alpha=0.2)


@pytest.mark.slow
def test_beta_draws_have_the_mean_and_variance_of_beta_alpha_alpha():
    alpha = 1.0  # Beta(1, 1) is uniform: mean 1/2, variance 1/12
    draws = np.array([float(beta_draw(0, s, alpha)) for s in range(2000)])
    assert abs(draws.mean() - 0.5) < 0.02
    assert abs(draws.var() - 1 / 12) < 0.01


# --- cutout (DeVries & Taylor 2017) -----------------------------------------------------


def test_cutout_centers_and_mask_are_pinned_for_a_fixed_seed():
    centers = cutout_centers(3, 32, 32, seed=0, step=0).numpy()
    assert centers.tolist() == PINNED_CUTOUT_CENTERS
    images = tf.ones([3, 32, 32, 3])
    out = cutout(images, 0, 0, 16).numpy()
    # image 0: centre (11, 29) → rows 3..18, cols 21..31 (partly outside): 16·11 = 176 zeros
    assert (out[0] == 0).all(axis=-1).sum() == 176
    for image, (row, col) in zip(out, centers):
        top, left = row - 8, col - 8  # the 16×16 square, clipped to the image
        rows = range(max(0, top), min(32, top + 16))
        cols = range(max(0, left), min(32, left + 16))
        assert (image == 0).all(axis=-1).sum() == len(rows) * len(cols)
        assert (image[rows.start:rows.stop, cols.start:cols.stop] == 0).all()


# seed 0, iteration 0, three images: row, column (Philox integer draws; same under XLA)
PINNED_CUTOUT_CENTERS = [[11, 29], [8, 20], [28, 22]]


@pytest.mark.parametrize("step", [0, 7, 12345])
def test_cutout_under_xla_zeroes_the_same_squares(step):
    """trainer.jit_compile=true compiles cutout into the step: the Philox draws and the mask
    must be the same, so XLA and non-XLA runs train on the same batches. (Mixup and CutMix:
    below, with λ from the run's table.)"""
    images = tf.random.stateless_normal([8, 32, 32, 3], seed=[1, 2])

    def apply(x, s):
        return cutout(x, 3, s, 16)

    plain = apply(images, tf.constant(step, tf.int64)).numpy()
    compiled = tf.function(apply, jit_compile=True)(images, tf.constant(step, tf.int64)).numpy()
    np.testing.assert_array_equal(compiled, plain)
    assert (plain == 0).all(axis=-1).sum() > 0  # some squares were cut out


def test_square_mask_may_lie_partly_outside_the_image():
    mask = square_mask(8, 8, tf.constant([[0, 7]]), 4).numpy()[0, :, :, 0]
    # centre (0, 7), side 4: rows -2..1 and cols 5..8 → inside: rows 0..1, cols 5..7
    assert (mask == 0).sum() == 2 * 3
    assert (mask[0:2, 5:8] == 0).all()


def test_cutout_draws_repeat_for_the_same_step_and_differ_across_steps():
    a = cutout_centers(64, 32, 32, 0, 5).numpy()
    assert (a == cutout_centers(64, 32, 32, 0, 5).numpy()).all()
    assert (a != cutout_centers(64, 32, 32, 0, 6).numpy()).any()
    assert a.min() >= 0 and a.max() <= 31


# --- CutMix (Yun et al. 2019) -----------------------------------------------------------


def test_cutmix_box_area_and_the_adjusted_lambda():
    # λ = 0.75: sides ⌊32·√0.25⌋ = 16 about the centre (10, 30): rows 2..17, cols 22..31
    top, bottom, left, right = (int(v) for v in cutmix_box(32, 32, tf.constant(0.75),
                                                           tf.constant([10, 30])))
    assert (top, bottom, left, right) == (2, 18, 22, 32)
    images = tf.stack([tf.zeros([32, 32, 1]), tf.ones([32, 32, 1])])
    out, mixed = cutmix(images, tf.constant([0, 1]), tf.constant(0.75), 0, 0)
    pasted = float(tf.reduce_sum(out[0]))  # image 0 is zeros: the ones are the box
    assert float(mixed.lam) == pytest.approx(1 - pasted / 1024)


def test_regularize_batch_with_everything_off_returns_its_inputs():
    images = tf.ones([2, 32, 32, 3])
    out, mixed = regularize_batch(images, tf.constant([0, 1]), 0, 0)
    assert out is images and mixed is None


# --- EMA --------------------------------------------------------------------------------


def test_ema_update_equals_the_hand_computed_value():
    assert float(ema_update(tf.constant(1.0), tf.constant(3.0), 0.9)) == pytest.approx(1.2)
    # two updates of 0 toward 10 at decay 0.5: 5, then 7.5
    model = tiny_model()
    ema = Ema(model, 0.5)
    kernel = model.layers[-1].kernel
    start = kernel.numpy().copy()
    kernel.assign(start + 10.0)
    ema.update()
    ema.update()
    index = [id(v) for v in ema.sources].index(id(kernel))
    np.testing.assert_allclose(ema.state.averages[index].numpy(), start + 7.5, rtol=1e-6)


def test_ema_covers_bn_statistics_and_swaps_in_and_out_bitwise():
    model = tiny_model()
    ema = Ema(model, 0.9)
    paths = {v.path for v in ema.sources}
    assert any("moving_mean" in p for p in paths) and any("moving_variance" in p for p in paths)
    before = [v.numpy().copy() for v in model.variables]
    for average in ema.state.averages:
        average.assign(average + 1.0)
    with ema.swapped_in():
        np.testing.assert_array_equal(ema.sources[0].numpy(),
                                      ema.state.averages[0].numpy())
    for v, b in zip(model.variables, before):
        np.testing.assert_array_equal(v.numpy(), b)


# --- SWA (Izmailov et al. 2018) ---------------------------------------------------------


def test_swa_update_is_the_equal_average_of_the_samples():
    average = tf.constant(0.0)
    for n, sample in enumerate([2.0, 4.0, 9.0]):
        average = swa_update(average, tf.constant(sample), tf.constant(n, tf.int64))
    assert float(average) == pytest.approx(5.0)


def test_swa_samples_every_period_from_the_start_and_the_last_iteration():
    due = [d for d in range(1, 21) if sample_due(d, 10, 4, 20)]
    assert due == [14, 18, 20]


def test_bn_statistics_are_recomputed_as_the_mean_of_the_batch_statistics():
    import keras

    inputs = keras.Input([2, 2, 1])
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.9)(inputs))
    batches = [tf.fill([1, 2, 2, 1], 1.0), tf.constant([[[[0.0], [2.0]], [[4.0], [6.0]]]])]
    recompute_bn_statistics(model, batches)
    bn = model.layers[-1]
    # batch means 1 and 3 → 2; batch variances (Keras: biased) 0 and 5 → 2.5
    assert float(bn.moving_mean.numpy()[0]) == pytest.approx(2.0, rel=1e-6)
    assert float(bn.moving_variance.numpy()[0]) == pytest.approx(2.5, rel=1e-6)


def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input([4, 4, 3])
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))
