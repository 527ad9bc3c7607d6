"""The data folder's faults that are not a bad archive: a folder nobody may write, a full
disk, an unreadable file, a garbled HTTP response, a staging folder a killed run left.
Each is a DataError (exit 7) that says what was wrong, and nothing good is deleted or
called corrupt. The environment is simulated (tests may run as root, where permissions do
not bite) by making the one call that would fail raise what the OS raises."""

import errno
import http.client
import os
import time

import pytest

from _archives import entries, md5_of, write_tarball
from rescore.data import cifar_archive
from rescore.data.cifar10 import ARCHIVE_NAME, BATCHES_DIR, DataError, load_cifar10
from test_cifar10 import _canonical_members, _expected_nhwc


@pytest.fixture
def placed(tmp_path):
    """A root holding a good archive; returns (root, archive, its md5)."""
    root = tmp_path / "root"
    archive = write_tarball(root / ARCHIVE_NAME, _canonical_members())
    return root, archive, md5_of(archive)


def _raise(error: OSError):
    def fail(*args, **kwargs):
        raise error
    return fail


def test_a_root_nobody_may_write_says_so_and_how_to_get_out(placed, monkeypatch):
    root, archive, md5 = placed
    monkeypatch.setattr(cifar_archive.tempfile, "mkdtemp",
                        _raise(PermissionError(errno.EACCES, "Permission denied", str(root))))
    with pytest.raises(DataError) as raised:
        load_cifar10(root, download=False, md5=md5)
    message = str(raised.value)
    assert raised.value.exit_code == 7
    assert message.startswith(f"Cannot write to the data root {root} ([Errno 13]")
    assert f"tar xzf {ARCHIVE_NAME} gives {BATCHES_DIR}/" in message
    assert "RESCORE_DATA" in message and "data.root=" in message
    assert md5_of(archive) == md5 and entries(root) == [ARCHIVE_NAME]


def test_a_root_that_cannot_be_created_is_a_data_error(tmp_path, monkeypatch):
    root = tmp_path / "missing" / "root"
    monkeypatch.setattr(type(root), "mkdir",
                        _raise(PermissionError(errno.EACCES, "Permission denied", str(root))))
    with pytest.raises(DataError, match=r"^Cannot write to the data root .*missing/root"):
        load_cifar10(root, url="file:///nowhere.tar.gz")


def test_a_bad_archive_that_cannot_be_moved_aside_still_names_both_md5s(placed, monkeypatch):
    root, archive, _ = placed
    archive.write_bytes(archive.read_bytes()[:-50])
    bad_md5 = md5_of(archive)
    monkeypatch.setattr(cifar_archive.os, "replace",
                        _raise(OSError(errno.EROFS, "Read-only file system")))
    with pytest.raises(DataError) as raised:
        load_cifar10(root, download=False, md5="0" * 32)
    message = str(raised.value)
    assert f"expected md5 {'0' * 32}, actual md5 {bad_md5}" in message
    assert message.endswith("could not be moved aside ([Errno 30] Read-only file system), so "
                            "it is still there: replace it with a good copy.")
    assert archive.exists()


def test_a_full_disk_while_extracting_keeps_the_archive_and_blames_the_disk(placed,
                                                                              monkeypatch):
    root, archive, md5 = placed
    monkeypatch.setattr(cifar_archive.shutil, "copyfileobj",
                        _raise(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(DataError) as raised:
        load_cifar10(root, download=False, md5=md5)
    message = str(raised.value)
    assert message.startswith(f"Could not extract {archive} into {root}: [Errno 28] No space")
    assert "The archive was kept" in message and "Delete it" not in message
    assert md5_of(archive) == md5 and entries(root) == [ARCHIVE_NAME]


def test_an_unreadable_batch_is_not_called_corrupt(placed, monkeypatch):
    root, _, md5 = placed
    load_cifar10(root, download=False, md5=md5)  # extracted, good
    monkeypatch.setattr(cifar_archive, "_unpickle_bytes_keys",
                        _raise(PermissionError(errno.EACCES, "Permission denied")))
    with pytest.raises(DataError) as raised:
        load_cifar10(root, download=False, md5=md5)
    message = str(raised.value)
    assert message.startswith(f"Could not read {root / BATCHES_DIR / 'data_batch_1'}: "
                              "[Errno 13] Permission denied. Check that you can read it")
    assert "Delete" not in message and (root / BATCHES_DIR / "data_batch_1").is_file()


def test_an_unreadable_placed_archive_is_not_moved_aside(placed, monkeypatch):
    root, archive, md5 = placed
    monkeypatch.setattr(cifar_archive, "_md5_of_file",
                        _raise(PermissionError(errno.EACCES, "Permission denied")))
    with pytest.raises(DataError, match=r"^Could not read .*cifar-10-python\.tar\.gz: "
                                        r"\[Errno 13\] Permission denied"):
        load_cifar10(root, download=False, md5=md5)
    assert entries(root) == [ARCHIVE_NAME]


@pytest.mark.parametrize("garbled", [http.client.IncompleteRead(b"abc", 100),
                                     http.client.BadStatusLine("HTTP/1.1 2oo OK")])
def test_a_garbled_http_response_is_a_data_error_and_leaves_no_part_file(
        tmp_path, monkeypatch, garbled):
    root = tmp_path / "root"

    def cut_off(url, destination):
        destination.write_bytes(b"abc")
        raise garbled
    monkeypatch.setattr(cifar_archive, "_stream_to_file", cut_off)
    with pytest.raises(DataError) as raised:
        load_cifar10(root, url="http://example.invalid/cifar-10-python.tar.gz")
    assert str(raised.value).startswith("Could not download CIFAR-10 from "
                                        "http://example.invalid/cifar-10-python.tar.gz: ")
    assert f"Put CIFAR-10 under {root}" in str(raised.value)
    assert entries(root) == []


def test_a_staging_folder_left_by_a_killed_extraction_is_removed_once_old(placed):
    root, _, md5 = placed
    stale, young = (root / (cifar_archive.STAGING_PREFIX + name) for name in ("killed", "now"))
    for folder in (stale, young):
        (folder / BATCHES_DIR).mkdir(parents=True)
        (folder / BATCHES_DIR / "data_batch_1").write_bytes(b"half")
    hour_and_a_bit = time.time() - cifar_archive.STALE_STAGING_S - 60
    os.utime(stale, (hour_and_a_bit, hour_and_a_bit))
    data = load_cifar10(root, download=False, md5=md5)
    # the young one may be another machine's extraction under way (a root shared over NFS)
    assert entries(root) == sorted([ARCHIVE_NAME, BATCHES_DIR,
                                                             young.name])
    assert (data.x_test == _expected_nhwc("test_batch")).all()


def test_a_truncated_archive_is_still_called_bad(placed):
    """The disk-full branch must not swallow a real archive fault (gzip's is an OSError)."""
    root, archive, _ = placed
    archive.write_bytes(b"\x1f\x8b" + b"not gzip at all" * 10)
    with pytest.raises(DataError, match=r"Could not extract .*Delete it and run again"):
        load_cifar10(root, download=False, md5=md5_of(archive))
    assert not (root / BATCHES_DIR).exists()
