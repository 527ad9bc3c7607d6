"""data=cifar100 on small archives written in the official format (no real CIFAR-100 is
needed): the same download/md5/extract/lock code as CIFAR-10 (data/cifar_archive.py), the
fine labels, the data root's two layouts, the held-out split, and the config's number of
classes. A last test checks the real data set when RESCORE_DATA holds it."""

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from _faults import run_cli
from _archives import entries, md5_of, write_tarball
from rescore.config import DataConfig
from rescore.data import cifar100, load_splits
from rescore.data.cifar100 import (ARCHIVE_NAME, BATCHES_DIR, OFFICIAL_MD5, OFFICIAL_URL,
                                   ensure_cifar100, load_cifar100)
from rescore.data.pipeline import SPLIT_SEED
from rescore.errors import DataError

TRAIN_IMAGES, TEST_IMAGES = 300, 100


def _split(n: int, seed: int) -> dict:
    """One pickle as the official ones: fine labels 0..99 and coarse labels 0..19 that differ
    from them (coarse = 99 - fine, mod 20), so reading the wrong key changes the labels."""
    rng = np.random.default_rng(seed)
    fine = [(7 * i + seed) % 100 for i in range(n)]
    return {b"filenames": [b"img_%d.png" % i for i in range(n)],
            b"batch_label": b"training batch 1 of 1" if seed == 1 else b"testing batch 1 of 1",
            b"fine_labels": fine,
            b"coarse_labels": [(99 - f) % 20 for f in fine],
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)}


TRAIN, TEST = _split(TRAIN_IMAGES, 1), _split(TEST_IMAGES, 2)
META = {b"fine_label_names": [b"fine%d" % i for i in range(100)],
        b"coarse_label_names": [b"coarse%d" % i for i in range(20)]}


def _official_members() -> dict:
    return {f"{BATCHES_DIR}/{name}": pickle.dumps(obj, protocol=2)
            for name, obj in (("train", TRAIN), ("test", TEST), ("meta", META))}






def _nhwc(rows: np.ndarray) -> np.ndarray:
    out = np.empty((len(rows), 32, 32, 3), np.uint8)
    for c in range(3):  # index arithmetic, independent of the reshape under test
        for y in range(32):
            out[:, y, :, c] = rows[:, c * 1024 + y * 32:c * 1024 + y * 32 + 32]
    return out


@pytest.fixture
def archive(tmp_path) -> tuple:
    source = write_tarball(tmp_path / "source" / ARCHIVE_NAME, _official_members())
    return source, md5_of(source)


def _assert_is_the_fake(data) -> None:
    assert data.x_train.shape == (TRAIN_IMAGES, 32, 32, 3) and data.x_train.dtype == np.uint8
    assert data.x_test.shape == (TEST_IMAGES, 32, 32, 3)
    np.testing.assert_array_equal(data.x_train, _nhwc(TRAIN[b"data"]))
    np.testing.assert_array_equal(data.x_test, _nhwc(TEST[b"data"]))
    assert data.y_train.dtype == np.int32
    assert data.y_train.tolist() == TRAIN[b"fine_labels"]  # fine, not coarse
    assert data.y_test.tolist() == TEST[b"fine_labels"]
    assert data.y_train[:4].tolist() == [1, 8, 15, 22] and data.y_train.max() == 99


def test_the_release_is_the_official_one():
    assert OFFICIAL_URL == "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    assert OFFICIAL_MD5 == "eb9058c3a382ffc7106e4002c42a8d85"
    assert cifar100.CIFAR100.num_classes == 100 and cifar100.CIFAR100.label_key == b"fine_labels"


def test_download_verifies_extracts_and_reads_the_fine_labels(archive, tmp_path):
    source, md5 = archive
    root = tmp_path / "root"
    _assert_is_the_fake(load_cifar100(root, url=source.as_uri(), md5=md5))
    assert entries(root) == sorted([ARCHIVE_NAME, BATCHES_DIR])  # no tmp
    assert sorted(p.name for p in (root / BATCHES_DIR).iterdir()) == ["meta", "test", "train"]


def test_the_archive_placed_in_the_root_is_used_without_download(archive, tmp_path):
    source, md5 = archive
    root = tmp_path / "root"
    root.mkdir()
    (root / ARCHIVE_NAME).write_bytes(source.read_bytes())
    _assert_is_the_fake(load_cifar100(root, download=False, url="http://127.0.0.1:9/x", md5=md5))


def test_an_extracted_folder_in_the_root_is_used_as_it_is(archive, tmp_path):
    root = tmp_path / "root"
    (root / BATCHES_DIR).mkdir(parents=True)
    for name, payload in _official_members().items():
        (root / name).write_bytes(payload)
    _assert_is_the_fake(load_cifar100(root, download=False))
    assert ensure_cifar100(root, download=False) == root / BATCHES_DIR


def test_the_root_defaults_to_rescore_data(archive, tmp_path, monkeypatch):
    source, md5 = archive
    monkeypatch.setenv("RESCORE_DATA", str(tmp_path / "via-env"))
    load_cifar100(url=source.as_uri(), md5=md5)
    assert (tmp_path / "via-env" / BATCHES_DIR / "train").is_file()


def test_a_placed_archive_with_the_wrong_md5_is_refused_and_moved_aside(archive, tmp_path):
    """As CIFAR-10's: the message names the file, both md5s and what to do; exit status 7."""
    source, md5 = archive
    root = tmp_path / "root"
    root.mkdir()
    placed = root / ARCHIVE_NAME
    placed.write_bytes(source.read_bytes()[:-100])  # truncated: another md5
    bad_md5 = md5_of(placed)
    with pytest.raises(DataError) as raised:
        load_cifar100(root, download=False, md5=md5)
    message = str(raised.value)
    assert raised.value.exit_code == 7
    assert f"{placed} is corrupt or truncated: expected md5 {md5}, actual md5 {bad_md5}" \
        in message
    assert f"moved to {placed}.bad" in message and f"Place a good copy at {placed} " in message
    assert not placed.exists() and md5_of(root / (ARCHIVE_NAME + ".bad")) == bad_md5
    assert not (root / BATCHES_DIR).exists()


def test_a_download_with_the_wrong_md5_leaves_nothing(archive, tmp_path):
    source, _ = archive
    root = tmp_path / "root"
    with pytest.raises(DataError) as raised:
        load_cifar100(root, url=source.as_uri(), md5=OFFICIAL_MD5)  # the fake is not it
    assert f"expected md5 {OFFICIAL_MD5}, actual md5 {md5_of(source)}" in str(raised.value)
    assert entries(root) == []


def test_a_truncated_tar_whose_md5_matches_fails_to_extract_and_leaves_no_folder(
        archive, tmp_path):
    source, _ = archive
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"Could not extract .*cifar-100-python\.tar\.gz.*"
                                        r"Delete it and run again"):
        load_cifar100(root, url=truncated.as_uri(), md5=md5_of(truncated))
    assert entries(root) == [ARCHIVE_NAME]  # no staging, no folder


def test_a_batch_without_fine_labels_is_refused_naming_the_key(tmp_path):
    """A CIFAR-10-style batch (b"labels") in the CIFAR-100 folder is not silently read."""
    root = tmp_path / "root"
    (root / BATCHES_DIR).mkdir(parents=True)
    ten_style = {b"data": TRAIN[b"data"], b"labels": [0] * TRAIN_IMAGES}
    (root / BATCHES_DIR / "train").write_bytes(pickle.dumps(ten_style, protocol=2))
    (root / BATCHES_DIR / "test").write_bytes(pickle.dumps(TEST, protocol=2))
    with pytest.raises(DataError) as raised:
        load_cifar100(root, download=False)
    assert "is not a valid CIFAR-100 batch" in str(raised.value)
    assert "b'fine_labels'" in str(raised.value)


def test_missing_data_says_where_to_put_it(tmp_path):
    root = tmp_path / "root"
    with pytest.raises(DataError) as raised:
        ensure_cifar100(root, download=False)
    message = str(raised.value)
    assert message.startswith("CIFAR-100 not found and download=False.")
    assert f"{root / BATCHES_DIR}/ containing train, test" in message
    assert f"{root / ARCHIVE_NAME}, the official archive from {OFFICIAL_URL}" in message
    assert not root.exists()


def test_the_held_out_split_is_cifar10s(archive, tmp_path):
    """val_split holds out training images exactly as for CIFAR-10 (data/pipeline.py): a
    fixed permutation from SPLIT_SEED, the rest trains; the test set stays whole."""
    source, md5 = archive
    root = tmp_path / "root"
    load_cifar100(root, url=source.as_uri(), md5=md5)  # place it; load_splits reads the root
    splits = load_splits(DataConfig(name="cifar100", root=str(root), download=False,
                                    val_split=50, num_classes=100))
    held = np.sort(np.random.default_rng(SPLIT_SEED).permutation(TRAIN_IMAGES)[:50])
    rows = TRAIN[b"data"]
    assert splits.heldout_name == "val" and len(splits.x_train) == TRAIN_IMAGES - 50
    np.testing.assert_array_equal(splits.x_heldout, _nhwc(rows[held]))
    assert splits.y_heldout.tolist() == [TRAIN[b"fine_labels"][i] for i in held]
    assert len(splits.x_test) == TEST_IMAGES


# ------------------------------------------------------------------ config


def test_data_cifar100_brings_its_100_classes(compose_config):
    from dataclasses import asdict

    from rescore.config import config_digest, to_settings

    s = to_settings(compose_config(["data=cifar100"]))
    assert s.data.name == "cifar100" and s.data.num_classes == 100
    assert config_digest(asdict(s)) != config_digest(asdict(to_settings(compose_config())))


@pytest.mark.parametrize("overrides, message", [
    (["data=cifar100", "data.num_classes=10"],
     "data.num_classes=10 contradicts data.name=cifar100, which has 100 classes"),
    (["data.name=cifar100"],  # the name alone keeps CIFAR-10's 10 classes
     "choose the data set as a group, data=cifar100 (it sets data.num_classes=100)"),
    (["data.num_classes=100"],
     "data.num_classes=100 contradicts data.name=cifar10, which has 10 classes"),
    (["data=synthetic", "data.num_classes=1"], "data.num_classes must be >= 2, got 1"),
])
def test_a_number_of_classes_that_contradicts_the_data_set_is_refused(
        compose_config, overrides, message):
    from rescore.config import to_settings
    from rescore.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        to_settings(compose_config(overrides))
    assert message in str(raised.value) and raised.value.exit_code == 2


def test_synthetic_data_takes_any_number_of_classes(compose_config):
    from rescore.config import to_settings

    assert to_settings(compose_config(["data=synthetic", "data.num_classes=100"])) \
        .data.num_classes == 100


@pytest.mark.slow
def test_a_corrupt_cifar100_archive_is_exit_7_from_the_command_line(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / ARCHIVE_NAME).write_bytes(b"not a tarball")
    proc = run_cli(["data=cifar100", f"data.root={root}", "data.download=false",
                    "optim.max_steps=2", "optim.milestones=[1]", f"out_root={tmp_path / 'out'}"],
                   cwd=tmp_path, timeout=300)
    assert proc.returncode == 7, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"{root / ARCHIVE_NAME} is corrupt or truncated: expected md5 {OFFICIAL_MD5}, " \
           f"actual md5 {hashlib.md5(b'not a tarball').hexdigest()}" in proc.stderr


# --------------------------------------------------------------- real data

REAL_ROOT = os.environ.get("RESCORE_DATA")
HAS_REAL = bool(REAL_ROOT) and (Path(REAL_ROOT) / BATCHES_DIR).is_dir()


@pytest.mark.skipif(not HAS_REAL, reason="set RESCORE_DATA to a folder containing "
                                         "cifar-100-python/ to test the real data set")
def test_real_cifar100_has_500_and_100_images_per_fine_class():
    data = load_cifar100(REAL_ROOT, download=False)
    assert data.x_train.shape == (50000, 32, 32, 3) and data.x_test.shape == (10000, 32, 32, 3)
    assert np.bincount(data.y_train, minlength=100).tolist() == [500] * 100
    assert np.bincount(data.y_test, minlength=100).tolist() == [100] * 100
