"""Batches as pure functions of (seed, iteration): order, crops, flips, split and mean."""

import numpy as np
import pytest

from rescore.data.augment import pad_crop_flip
from rescore.data.pipeline import BatchOrder, make_splits, normalization


def coded_images(n=64):
    """Each pixel encodes (image, row, col) so a crop's offset and flip can be read back."""
    i, r, c = np.meshgrid(np.arange(n), np.arange(32), np.arange(32), indexing="ij")
    return np.stack([i, r + 1, c + 1], axis=-1).astype(np.int32)  # 0 marks padding


def test_same_seed_and_iteration_same_batch_else_different():
    images = coded_images()
    a = pad_crop_flip(images, 3, 17).numpy()
    np.testing.assert_array_equal(a, pad_crop_flip(images, 3, 17).numpy())
    assert not np.array_equal(a, pad_crop_flip(images, 3, 18).numpy())
    assert not np.array_equal(a, pad_crop_flip(images, 4, 17).numpy())


@pytest.mark.slow
def test_xla_draws_the_same_crops_and_flips():
    """trainer.jit_compile=true compiles the augmentation too; it must not change the run's
    batches (XLA picks its own generator and float conversion unless told otherwise)."""
    import tensorflow as tf

    images = tf.constant(coded_images())

    def augment(x, step):
        return pad_crop_flip(x, 3, step)

    for step in (0, 17):
        step = tf.constant(step, tf.int64)
        np.testing.assert_array_equal(tf.function(augment)(images, step).numpy(),
                                      tf.function(augment, jit_compile=True)(images, step).numpy())


def test_crops_stay_inside_the_padded_image_and_flips_are_half():
    images = coded_images(256)
    offsets, flips = [], []
    for step in range(8):
        out = pad_crop_flip(images, 0, step).numpy()
        real = out[..., 1] > 0
        # every real pixel still belongs to its own image: crops never mix images
        np.testing.assert_array_equal(out[..., 0][real],
                                      np.broadcast_to(np.arange(256)[:, None, None],
                                                      out.shape[:3])[real])
        for img in out:
            first_row = np.argwhere(img[..., 1] > 0)[:, 0].min()
            source_row = img[first_row, :, 1].max() - 1
            # output row k shows padded row offset + k = source row + 4
            offsets.append(source_row - first_row + 4)
            cols = [c for c in img[first_row, :, 2] if c > 0]
            flips.append(len(cols) > 1 and cols[0] > cols[-1])
    assert min(offsets) == 0 and max(offsets) == 8
    assert set(offsets) == set(range(9))
    assert np.mean(flips) == pytest.approx(0.5, abs=0.05)


def test_crop_keeps_pixels_contiguous():
    out = pad_crop_flip(coded_images(16), 1, 5).numpy()
    for img in out:
        real_rows = img[..., 1][:, 16]
        rr = real_rows[real_rows > 0]
        assert np.all(np.diff(rr) == 1)  # consecutive source rows: a crop, not a shuffle


def test_batch_order_is_a_pure_function_of_seed_and_epoch():
    order = BatchOrder(1000, 128, seed=5)
    assert order.steps_per_epoch == 7
    first_epoch = np.concatenate([order.indices(s) for s in range(7)])
    assert len(set(first_epoch)) == 7 * 128  # no repeats within an epoch
    again = BatchOrder(1000, 128, seed=5)
    np.testing.assert_array_equal(again.indices(9), order.indices(9))  # no history needed
    assert not np.array_equal(order.indices(0), order.indices(7))  # a new epoch reshuffles
    assert not np.array_equal(BatchOrder(1000, 128, seed=6).indices(0), order.indices(0))


@pytest.mark.parametrize("batch", [0, 1001])
def test_batch_order_rejects_bad_batch_sizes(batch):
    with pytest.raises(ValueError, match="batch size"):
        BatchOrder(1000, batch, seed=0)


def test_validation_split_is_fixed_disjoint_and_sized():
    x = np.arange(100)[:, None, None, None].astype(np.uint8) * np.ones((1, 2, 2, 3), np.uint8)
    y = np.arange(100, dtype=np.int32)
    s = make_splits(x, y, x[:10], y[:10], val_split=20)
    assert s.heldout_name == "val" and len(s.x_train) == 80 and len(s.x_heldout) == 20
    assert not set(s.y_train) & set(s.y_heldout)
    np.testing.assert_array_equal(make_splits(x, y, x[:10], y[:10], 20).y_heldout, s.y_heldout)
    np.testing.assert_array_equal(s.y_test, y[:10])
    full = make_splits(x, y, x[:10], y[:10], val_split=0)
    assert full.heldout_name == "test" and len(full.x_train) == 100


def test_mean_is_computed_over_the_training_images_used():
    x = np.zeros((4, 2, 2, 3), np.uint8)
    x[0] = 255
    mean, std = normalization(x, "pixel_mean")
    assert mean.shape == (2, 2, 3) and np.allclose(mean, 0.25) and np.all(std == 1)
    mean, std = normalization(x, "channel_std")
    assert mean.shape == (1, 1, 3) and np.allclose(mean, 0.25)
    assert np.allclose(std, np.sqrt(0.25 * 0.75))
    with pytest.raises(ValueError, match="pixel_mean, channel_std"):
        normalization(x, "imagenet")
