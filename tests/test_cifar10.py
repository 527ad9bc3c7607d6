"""Tests for rescore.data.cifar10 on a tiny fake CIFAR-10 in the canonical format.

The fake batches are pickled exactly like the originals (byte keys, channel-major
uint8 rows) so the parsing path is the one real data takes. A separate test
checks the real data set when RESCORE_DATA points at it.
"""

import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from _archives import entries, md5_of, write_tarball
from rescore.data import cifar10
from rescore.data.cifar10 import (ARCHIVE_NAME, BATCHES_DIR, DataError, default_root,
                                  ensure_cifar10, load_cifar10)

IMAGES_PER_BATCH = 4
BATCH_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


# ----------------------------------------------------------------- fake data


def _fake_batch(batch_index: int) -> tuple[np.ndarray, list[int]]:
    """Distinct, position-dependent pixels so any reshape mistake changes values."""
    rng = np.random.default_rng(batch_index)
    rows = rng.integers(0, 256, size=(IMAGES_PER_BATCH, 3072), dtype=np.uint8)
    labels = [(batch_index * IMAGES_PER_BATCH + i) % 10 for i in range(IMAGES_PER_BATCH)]
    return rows, labels


FAKE = {name: _fake_batch(i) for i, name in enumerate(BATCH_NAMES)}


def _pickled(obj, protocol=2) -> bytes:
    return pickle.dumps(obj, protocol=protocol)


def _batch_bytes(name: str, protocol=2) -> bytes:
    rows, labels = FAKE[name]
    return _pickled({b"batch_label": name.encode(), b"labels": labels, b"data": rows,
                     b"filenames": [f"{name}_{i}.png".encode() for i in range(len(labels))]},
                    protocol)




def _canonical_members(protocol=2) -> dict[str, bytes]:
    members = {f"{BATCHES_DIR}/{name}": _batch_bytes(name, protocol) for name in BATCH_NAMES}
    members[f"{BATCHES_DIR}/batches.meta"] = _pickled(
        {b"label_names": [b"c%d" % i for i in range(10)], b"num_cases_per_batch": 4})
    return members




@pytest.fixture
def good_tarball(tmp_path) -> tuple[Path, str]:
    (tmp_path / "source").mkdir()
    source = write_tarball(tmp_path / "source" / "good.tar.gz", _canonical_members())
    return source, md5_of(source)


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "root"


def _expected_nhwc(name: str) -> np.ndarray:
    rows, _ = FAKE[name]
    out = np.empty((len(rows), 32, 32, 3), np.uint8)
    for n, row in enumerate(rows):  # explicit loops: independent of the reshape under test
        for c in range(3):
            for y in range(32):
                for x in range(32):
                    out[n, y, x, c] = row[c * 1024 + y * 32 + x]
    return out


# ---------------------------------------------------------- download + parse


def test_download_from_file_url_verifies_extracts_and_parses_exact_values(good_tarball, root):
    source, md5 = good_tarball
    data = load_cifar10(root, url=source.as_uri(), md5=md5)

    assert (root / ARCHIVE_NAME).is_file()
    assert md5_of(root / ARCHIVE_NAME) == md5
    assert not (root / (ARCHIVE_NAME + ".part")).exists()
    assert (root / BATCHES_DIR / "batches.meta").is_file()
    assert entries(root) == sorted([ARCHIVE_NAME, BATCHES_DIR])  # no temp dirs

    assert data.x_train.shape == (5 * IMAGES_PER_BATCH, 32, 32, 3)
    assert data.x_test.shape == (IMAGES_PER_BATCH, 32, 32, 3)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int32
    expected_train = np.concatenate([_expected_nhwc(n) for n in BATCH_NAMES[:5]])
    np.testing.assert_array_equal(data.x_train, expected_train)
    np.testing.assert_array_equal(data.x_test, _expected_nhwc("test_batch"))
    np.testing.assert_array_equal(
        data.y_train, np.concatenate([FAKE[n][1] for n in BATCH_NAMES[:5]]))
    np.testing.assert_array_equal(data.y_test, FAKE["test_batch"][1])


def test_channel_major_row_becomes_nhwc_on_a_known_pixel(good_tarball, root):
    source, md5 = good_tarball
    data = load_cifar10(root, url=source.as_uri(), md5=md5)
    row = FAKE["data_batch_2"][0][1]  # image 1 of batch 2
    y, x = 5, 7
    pixel = [row[0 * 1024 + y * 32 + x], row[1 * 1024 + y * 32 + x], row[2 * 1024 + y * 32 + x]]
    assert data.x_train[IMAGES_PER_BATCH + 1, y, x].tolist() == [int(v) for v in pixel]


def test_second_call_reuses_extracted_data_without_source(good_tarball, root):
    source, md5 = good_tarball
    first = load_cifar10(root, url=source.as_uri(), md5=md5)
    source.unlink()
    second = load_cifar10(root, url=source.as_uri(), md5=md5)
    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.y_test, second.y_test)


def test_pre_placed_tarball_is_used_without_download(good_tarball, root):
    source, md5 = good_tarball
    root.mkdir()
    (root / ARCHIVE_NAME).write_bytes(source.read_bytes())
    unreachable = "http://127.0.0.1:9/x.tar.gz"
    data = load_cifar10(root, download=False, url=unreachable, md5=md5)
    np.testing.assert_array_equal(data.y_test, FAKE["test_batch"][1])
    assert ensure_cifar10(root, download=False, md5=md5) == root / BATCHES_DIR


def test_batches_pickled_with_modern_protocol_also_load(tmp_path, root):
    source = write_tarball(tmp_path / "p5.tar.gz", _canonical_members(protocol=5))
    data = load_cifar10(root, url=source.as_uri(), md5=md5_of(source))
    np.testing.assert_array_equal(data.x_test, _expected_nhwc("test_batch"))


# ------------------------------------------------------------- bad archives


def _truncated_copy(source: Path, destination: Path) -> Path:
    payload = source.read_bytes()
    destination.write_bytes(payload[: len(payload) // 2])
    return destination


def test_truncated_download_raises_with_names_and_md5s_and_leaves_nothing(
        good_tarball, tmp_path, root):
    source, md5 = good_tarball
    truncated = _truncated_copy(source, tmp_path / "truncated.tar.gz")

    with pytest.raises(DataError) as excinfo:
        load_cifar10(root, url=truncated.as_uri(), md5=md5)

    message = str(excinfo.value)
    assert ARCHIVE_NAME in message
    assert md5 in message
    assert md5_of(truncated) in message
    assert not (root / ARCHIVE_NAME).exists()
    assert not (root / (ARCHIVE_NAME + ".part")).exists()
    assert not (root / BATCHES_DIR).exists()

    # The failed run must not poison the next one.
    data = load_cifar10(root, url=source.as_uri(), md5=md5)
    np.testing.assert_array_equal(data.y_test, FAKE["test_batch"][1])


def test_bad_pre_placed_tarball_is_moved_aside_then_good_download_succeeds(
        good_tarball, root):
    source, md5 = good_tarball
    root.mkdir()
    _truncated_copy(source, root / ARCHIVE_NAME)
    bad_md5 = md5_of(root / ARCHIVE_NAME)

    with pytest.raises(DataError) as excinfo:
        load_cifar10(root, url=source.as_uri(), md5=md5)

    message = str(excinfo.value)
    assert str(root / ARCHIVE_NAME) in message and md5 in message and bad_md5 in message
    assert not (root / ARCHIVE_NAME).exists()
    assert md5_of(root / (ARCHIVE_NAME + ".bad")) == bad_md5
    assert not (root / BATCHES_DIR).exists()

    data = load_cifar10(root, url=source.as_uri(), md5=md5)
    assert md5_of(root / ARCHIVE_NAME) == md5
    assert data.x_train.shape[0] == 5 * IMAGES_PER_BATCH


def test_archive_with_right_md5_but_missing_batch_is_rejected_atomically(tmp_path, root):
    members = _canonical_members()
    del members[f"{BATCHES_DIR}/test_batch"]
    source = write_tarball(tmp_path / "incomplete.tar.gz", members)
    with pytest.raises(DataError, match="test_batch"):
        load_cifar10(root, url=source.as_uri(), md5=md5_of(source))
    assert not (root / BATCHES_DIR).exists()
    assert entries(root) == [ARCHIVE_NAME]  # staging folder removed


def test_archive_members_cannot_escape_the_batches_folder(tmp_path, root):
    members = _canonical_members()
    members["../escaped"] = b"x"
    members[f"{BATCHES_DIR}/../../escaped2"] = b"x"
    members["/tmp/absolute_escape_rescore_test"] = b"x"
    source = write_tarball(tmp_path / "hostile.tar.gz", members)
    load_cifar10(root, url=source.as_uri(), md5=md5_of(source))
    assert not (tmp_path / "escaped").exists()
    assert not (tmp_path / "escaped2").exists()
    assert not Path("/tmp/absolute_escape_rescore_test").exists()
    assert sorted(p.name for p in (root / BATCHES_DIR).iterdir()) == sorted(
        BATCH_NAMES + ["batches.meta"])


# ------------------------------------------------------------ missing data


def _assert_says_where_to_put_it(message: str, root: Path) -> None:
    assert str(root) in message
    assert BATCHES_DIR in message and ARCHIVE_NAME in message
    assert cifar10.OFFICIAL_URL in message
    assert cifar10.ENV_ROOT in message and "data.root=" in message


def test_unreachable_url_raises_data_error_saying_where_to_put_files(root):
    with pytest.raises(DataError) as excinfo:
        load_cifar10(root, url="http://127.0.0.1:9/x.tar.gz", md5="0" * 32)
    _assert_says_where_to_put_it(str(excinfo.value), root)
    assert not (root / (ARCHIVE_NAME + ".part")).exists()
    assert not (root / ARCHIVE_NAME).exists()


def test_download_false_with_empty_root_raises_and_creates_nothing(root):
    with pytest.raises(DataError) as excinfo:
        ensure_cifar10(root, download=False)
    _assert_says_where_to_put_it(str(excinfo.value), root)
    assert not root.exists()


def test_incomplete_batches_folder_is_reported_not_replaced(root):
    (root / BATCHES_DIR).mkdir(parents=True)
    (root / BATCHES_DIR / "data_batch_1").write_bytes(b"")
    with pytest.raises(DataError, match="data_batch_2.*test_batch"):
        ensure_cifar10(root, download=False)
    assert (root / BATCHES_DIR / "data_batch_1").exists()


# --------------------------------------------------------------- bad batches


def _placed_batches(root: Path, overrides: dict[str, bytes]) -> Path:
    folder = root / BATCHES_DIR
    folder.mkdir(parents=True)
    for name in BATCH_NAMES:
        (folder / name).write_bytes(overrides.get(name, _batch_bytes(name)))
    return folder


@pytest.mark.parametrize("bad_payload, reason", [
    (b"not a pickle", "not a readable"),
    (_pickled({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), "0..9"),
    (_pickled({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "labels must be 2"),
    (_pickled({b"data": np.zeros((2, 3072), np.int64), b"labels": [0, 1]}), "uint8"),
    (_pickled({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}), "3072"),
    (_pickled({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}), 'b"data"'),
])
def test_bad_batch_file_raises_data_error_naming_it(root, bad_payload, reason):
    folder = _placed_batches(root, {"data_batch_3": bad_payload})
    with pytest.raises(DataError) as excinfo:
        load_cifar10(root, download=False)
    assert str(folder / "data_batch_3") in str(excinfo.value)
    assert reason in str(excinfo.value)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_batch_pickle_that_would_run_code_is_refused(root):
    _placed_batches(root, {"test_batch": _pickled({b"data": _RunsCode(), b"labels": []})})
    with pytest.raises(DataError, match="unexpected object"):
        load_cifar10(root, download=False)


# ---------------------------------------------------------------- default root


def test_env_var_sets_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv(cifar10.ENV_ROOT, str(tmp_path / "via-env"))
    assert default_root() == tmp_path / "via-env"


def test_default_root_falls_back_to_xdg_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(cifar10.ENV_ROOT, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "rescore"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_root() == Path.home() / ".cache" / "rescore"


def test_load_without_root_uses_env_var(monkeypatch, good_tarball, tmp_path):
    source, md5 = good_tarball
    monkeypatch.setenv(cifar10.ENV_ROOT, str(tmp_path / "via-env"))
    load_cifar10(url=source.as_uri(), md5=md5)
    assert (tmp_path / "via-env" / BATCHES_DIR / "test_batch").is_file()


# ------------------------------------------------------------------- real data

REAL_ROOT = os.environ.get(cifar10.ENV_ROOT)  # RESCORE_DATA, the variable rescore reads


@pytest.mark.slow
@pytest.mark.skipif(not REAL_ROOT, reason="set RESCORE_DATA to a folder containing "
                                          "cifar-10-batches-py/ to test the real data set")
def test_real_cifar10_has_known_shapes_counts_and_channel_means():
    data = load_cifar10(REAL_ROOT, download=False)
    assert data.x_train.shape == (50000, 32, 32, 3)
    assert data.x_test.shape == (10000, 32, 32, 3)
    assert np.bincount(data.y_train, minlength=10).tolist() == [5000] * 10
    assert np.bincount(data.y_test, minlength=10).tolist() == [1000] * 10
    assert data.y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    mean = data.x_train.mean(axis=(0, 1, 2)) / 255
    np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=5e-4)


def test_concurrent_first_loads_download_once_and_all_get_the_data(good_tarball, root,
                                                                    monkeypatch):
    """The jobs of a first multirun start together on an empty root: one downloads while
    the others wait (a lock on the root folder), then all find the same complete data."""
    import threading

    from rescore.data import cifar_archive

    source, md5 = good_tarball
    downloads = []
    real_download = cifar_archive._download_verified

    def slow_download(*args, **kwargs):
        downloads.append(threading.get_ident())
        time.sleep(0.5)  # a wide window for the others to arrive meanwhile
        return real_download(*args, **kwargs)

    monkeypatch.setattr(cifar_archive, "_download_verified", slow_download)
    results, errors = [], []

    def first_load():
        try:
            results.append(load_cifar10(root, url=source.as_uri(), md5=md5))
        except Exception as err:  # reported below, with the others' outcome
            errors.append(err)

    threads = [threading.Thread(target=first_load) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(downloads) == 1
    for data in results:
        np.testing.assert_array_equal(data.x_test, _expected_nhwc("test_batch"))
    assert entries(root) == sorted([ARCHIVE_NAME, BATCHES_DIR])


def test_a_second_bad_tarball_does_not_overwrite_the_first_one_moved_aside(good_tarball, root):
    source, md5 = good_tarball
    root.mkdir()
    _truncated_copy(source, root / ARCHIVE_NAME)
    first_md5 = md5_of(root / ARCHIVE_NAME)
    with pytest.raises(DataError):
        load_cifar10(root, download=False, url=source.as_uri(), md5=md5)
    (root / ARCHIVE_NAME).write_bytes(b"not a tarball either")
    second_md5 = md5_of(root / ARCHIVE_NAME)
    with pytest.raises(DataError) as excinfo:
        load_cifar10(root, download=False, url=source.as_uri(), md5=md5)
    assert f"moved to {root / ARCHIVE_NAME}.bad.1" in str(excinfo.value)
    assert md5_of(root / (ARCHIVE_NAME + ".bad")) == first_md5
    assert md5_of(root / (ARCHIVE_NAME + ".bad.1")) == second_md5
