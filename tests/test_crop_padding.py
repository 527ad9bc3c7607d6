"""The crop padding convention (issue 18 §5): black before normalising by default
(torchvision, akamaster), the mean (zeros after normalising, fb.resnet.torch) with
data.crop_padding=mean. Pinned on a constant image, where every padded pixel shows."""

import numpy as np
import pytest
import tensorflow as tf

from rescore.config import CropPadding, DataConfig
from rescore.train.step import StepInputs, training_inputs

PIXEL = 200  # every image pixel
MEAN, STD = 0.5, 0.25
IMAGE_VALUE = (PIXEL / 255 - MEAN) / STD  # 1.1372549…
BLACK_PADDED = (0.0 - MEAN) / STD  # -2.0: a zero pixel, normalised
MEAN_PADDED = 0.0  # zero after normalising: the mean itself
BATCH, SEED, STEP = 64, 3, 11


def batch_for(pad_with_mean: bool) -> np.ndarray:
    images = np.full((BATCH, 32, 32, 3), PIXEL, np.uint8)
    inputs = StepInputs(MEAN, STD, SEED, augment=True, pad_with_mean=pad_with_mean)
    return training_inputs(tf.constant(images), tf.constant(STEP, tf.int64),
                           tf.constant(MEAN), tf.constant(STD), inputs).numpy()


def test_default_pads_black_before_the_mean_is_subtracted():
    assert DataConfig().crop_padding == CropPadding.black
    x = batch_for(pad_with_mean=False)
    assert sorted(np.unique(x).tolist()) == pytest.approx([BLACK_PADDED, IMAGE_VALUE])
    assert np.isclose(x, BLACK_PADDED).mean() > 0.05  # crops at offset 4 (no padding) are 1/81


def test_mean_padding_pads_zeros_after_normalising_at_the_same_places():
    black, mean = batch_for(pad_with_mean=False), batch_for(pad_with_mean=True)
    assert sorted(np.unique(mean).tolist()) == pytest.approx([MEAN_PADDED, IMAGE_VALUE])
    padded = np.isclose(black, BLACK_PADDED)
    np.testing.assert_array_equal(padded, mean == MEAN_PADDED)  # the same crops and flips
    np.testing.assert_array_equal(black[~padded], mean[~padded])


def test_without_augmentation_nothing_is_padded():
    images = np.full((2, 32, 32, 3), PIXEL, np.uint8)
    inputs = StepInputs(MEAN, STD, SEED, augment=False, pad_with_mean=True)
    x = training_inputs(tf.constant(images), tf.constant(0, tf.int64), MEAN, STD, inputs)
    np.testing.assert_allclose(x.numpy(), IMAGE_VALUE, rtol=1e-6)



@pytest.mark.parametrize("override, pads_with_mean", [([], False),
                                                      (["data.crop_padding=mean"], True)])
def test_the_run_takes_the_convention_from_its_config(compose_config, override, pads_with_mean):
    from rescore.config import to_settings
    c = to_settings(compose_config(override))
    inputs = StepInputs.of(c, MEAN, STD)
    assert (inputs.pad_with_mean, inputs.augment, inputs.seed) == (pads_with_mean, True, c.seed)


def test_mean_padding_without_crops_is_refused_saying_what_to_do(compose_config):
    from rescore.config import to_settings
    from rescore.errors import ConfigError
    with pytest.raises(ConfigError, match="data.augment=false takes no crops: drop "
                                          "data.crop_padding or set data.augment=true"):
        to_settings(compose_config(["data.crop_padding=mean", "data.augment=false"]))
