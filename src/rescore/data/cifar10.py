"""Fetch, verify and parse the real CIFAR-10 (python version) into numpy arrays.

Two on-disk layouts are accepted under a data root:

    ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch}   (already extracted)
    ROOT/cifar-10-python.tar.gz                              (the official archive)

If neither is there the archive is downloaded. Every step is arranged so that an
interrupted or corrupt run never leaves something under a final name that a later
run would trust: downloads go to a ``.part`` file that is renamed only after its
md5 matches, and extraction happens in a temporary folder that is renamed into
place only when complete.

Pure Python + numpy on purpose: this module must be usable (and testable) without
TensorFlow.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import DataError  # noqa: F401  (also imported from here)
from ..locking import exclusive

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
ENV_ROOT = "RESCORE_DATA"  # env var overriding the default root

ARCHIVE_NAME = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
REQUIRED_FILES = TRAIN_BATCHES + (TEST_BATCH,)

NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)  # NHWC per image
ROW_LENGTH = 3 * 32 * 32  # one channel-major image per pickled row

_CHUNK_BYTES = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)  # eq=False: == and hash on arrays are ambiguous
class CifarArrays:
    x_train: np.ndarray  # (50000, 32, 32, 3) uint8, NHWC
    y_train: np.ndarray  # (50000,) int32
    x_test: np.ndarray  # (10000, 32, 32, 3) uint8, NHWC
    y_test: np.ndarray  # (10000,) int32

    def __post_init__(self) -> None:
        _check_split("train", self.x_train, self.y_train)
        _check_split("test", self.x_test, self.y_test)


def _check_split(split: str, images: np.ndarray, labels: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"x_{split} must be uint8 of shape (N, 32, 32, 3), "
                        f"got {images.dtype} {images.shape}")
    if labels.dtype != np.int32 or labels.shape != (len(images),):
        raise DataError(f"y_{split} must be int32 of shape ({len(images)},), "
                        f"got {labels.dtype} {labels.shape}")


# --------------------------------------------------------------------------- root


def default_root() -> Path:
    """$RESCORE_DATA if set, else $XDG_CACHE_HOME/rescore, else ~/.cache/rescore."""
    override = os.environ.get(ENV_ROOT)
    if override:
        return Path(override).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "rescore"


def _where_to_put_it(root: Path, url: str) -> str:
    tried = "" if url == OFFICIAL_URL else f" (this run tried {url})"
    return (
        f"Put CIFAR-10 under {root} in either layout:\n"
        f"  {root / BATCHES_DIR}/ containing {', '.join(REQUIRED_FILES)}, or\n"
        f"  {root / ARCHIVE_NAME}, the official archive from {OFFICIAL_URL}{tried}.\n"
        f"To use another folder set the {ENV_ROOT} environment variable "
        f"or pass data.root=/path/to/folder."
    )


# ------------------------------------------------------------------ fetch + verify


def ensure_cifar10(root: str | os.PathLike, download: bool = True,
                   url: str = OFFICIAL_URL, md5: str = OFFICIAL_MD5) -> Path:
    """Make sure ``root/cifar-10-batches-py`` is complete and return its path.

    Several processes may ask at once (the jobs of a first multirun): the first to lock
    `root` downloads and extracts, the others wait and then find the data in place."""
    root = Path(root).expanduser()
    batches_dir = root / BATCHES_DIR
    if batches_dir.exists():
        _check_batches_dir_complete(batches_dir)
        return batches_dir
    if not download and not (root / ARCHIVE_NAME).exists():
        raise _not_found(root, url)  # before mkdir: a refused load creates nothing
    root.mkdir(parents=True, exist_ok=True)
    with exclusive(root):
        if batches_dir.exists():  # another process finished while we waited
            _check_batches_dir_complete(batches_dir)
            return batches_dir
        _fetch_and_extract(root, download, url, md5)
    return batches_dir


def _fetch_and_extract(root: Path, download: bool, url: str, md5: str) -> None:
    archive = root / ARCHIVE_NAME
    if archive.exists():
        _verify_placed_archive(archive, md5)
    elif download:
        _download_verified(url, archive, md5, root)
    else:  # the archive went away while we waited for the lock
        raise _not_found(root, url)
    _extract_atomically(archive, root)


def _not_found(root: Path, url: str) -> DataError:
    return DataError(f"CIFAR-10 not found and download=False.\n{_where_to_put_it(root, url)}")


def _check_batches_dir_complete(batches_dir: Path) -> None:
    # Our own extraction is atomic, so a partial folder was made by someone else:
    # refuse to guess rather than silently delete user files.
    missing = [name for name in REQUIRED_FILES if not (batches_dir / name).is_file()]
    if missing:
        raise DataError(
            f"{batches_dir} exists but lacks {', '.join(missing)}. "
            f"Delete or complete that folder and run again.")


def _md5_of_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_placed_archive(archive: Path, expected_md5: str) -> None:
    """A bad archive is moved aside so the next run can download a good one."""
    actual_md5 = _md5_of_file(archive)
    if actual_md5 == expected_md5:
        return
    quarantined = archive.with_name(archive.name + ".bad")
    os.replace(archive, quarantined)
    raise DataError(
        f"{archive} is corrupt or truncated: expected md5 {expected_md5}, "
        f"actual md5 {actual_md5}. It was not used and has been moved to {quarantined}. "
        f"Place a good copy there or run again with download enabled.")


def _download_verified(url: str, archive: Path, expected_md5: str, root: Path) -> None:
    """Stream ``url`` to ``archive.part`` hashing as we go; rename only on a match."""
    partial = archive.with_name(archive.name + ".part")
    log.info("Downloading %s to %s", url, archive)
    try:
        actual_md5 = _stream_to_file(url, partial)
    except (OSError, ValueError) as err:  # URLError, HTTPError, timeouts are OSErrors
        partial.unlink(missing_ok=True)
        raise DataError(
            f"Could not download CIFAR-10 from {url}: {err}.\n{_where_to_put_it(root, url)}"
        ) from err
    if actual_md5 != expected_md5:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"Downloaded {url} for {archive} but it is corrupt or truncated: "
            f"expected md5 {expected_md5}, actual md5 {actual_md5}. "
            f"The partial file was deleted; run again, or place a good copy at {archive}.")
    os.replace(partial, archive)


def _stream_to_file(url: str, destination: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, \
            open(destination, "wb") as out:
        for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------- extract


def _extract_atomically(archive: Path, root: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    try:
        _extract_batches(archive, staging / BATCHES_DIR)
        _check_batches_dir_complete(staging / BATCHES_DIR)
        try:
            os.replace(staging / BATCHES_DIR, root / BATCHES_DIR)
        except OSError:
            # Another process may have finished first; its complete copy is as good.
            if not (root / BATCHES_DIR).is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_batches(archive: Path, destination: Path) -> None:
    """Copy only plain files directly inside ``cifar-10-batches-py/``.

    Member names are never used as paths beyond their basename, so absolute
    paths, ``..`` and links in a hostile archive cannot write outside the folder.
    """
    destination.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                basename = _basename_in_batches_dir(member)
                if basename is None:
                    continue
                with tar.extractfile(member) as src, open(destination / basename, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK_BYTES)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DataError(
            f"Could not extract {archive}: {err}. Delete it and run again.") from err


def _basename_in_batches_dir(member: tarfile.TarInfo) -> str | None:
    if not member.isfile():
        return None
    parts = member.name.replace("\\", "/").split("/")
    parts = [p for p in parts if p not in ("", ".")]
    if len(parts) != 2 or parts[0] != BATCHES_DIR or parts[1] == "..":
        return None
    return parts[1]


# ------------------------------------------------------------------------ parse


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR batches contain, so a planted pickle cannot run code."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),  # as in the official files
        ("numpy._core.multiarray", "_reconstruct"),  # re-pickled under numpy >= 2
        ("numpy.core.numeric", "_frombuffer"),  # protocol 5 pickles
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in pickle")
        return super().find_class(module, name)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> (N, 32, 32, 3) uint8 images and (N,) int32 labels."""
    try:
        with open(path, "rb") as f:
            batch = _unpickle_bytes_keys(f)
    except Exception as err:  # pickle raises many types on garbage input
        raise DataError(f"{path} is not a readable CIFAR-10 batch ({err}). "
                        f"Delete {path.parent} and run again.") from err
    return _images_and_labels(batch, path)


def _unpickle_bytes_keys(f: BinaryIO) -> object:
    # encoding="bytes" as the Keras reader does: Python 2 str keys become bytes.
    return _BatchUnpickler(f, encoding="bytes").load()


def _images_and_labels(batch: object, path: Path) -> tuple[np.ndarray, np.ndarray]:
    def bad(what: str) -> DataError:
        return DataError(f"{path} is not a valid CIFAR-10 batch: {what}. "
                         f"Delete {path.parent} and run again.")

    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise bad('expected a dict with keys b"data" and b"labels"')
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 \
            or data.ndim != 2 or data.shape[1] != ROW_LENGTH:
        raise bad(f"data must be a uint8 array of shape (N, {ROW_LENGTH}), got "
                  f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
    labels = np.asarray(batch[b"labels"])
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise bad(f"labels must be {len(data)} integers, got {labels.dtype} {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise bad(f"labels must lie in 0..{NUM_CLASSES - 1}, "
                  f"got {labels.min()}..{labels.max()}")
    # Rows are channel-major (1024 R, 1024 G, 1024 B); the models want NHWC.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int32)


def _read_split(batches_dir: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    parts = [_read_batch(batches_dir / name) for name in names]
    return (np.concatenate([images for images, _ in parts]),
            np.concatenate([labels for _, labels in parts]))


def load_cifar10(root: str | os.PathLike | None = None, download: bool = True,
                 url: str = OFFICIAL_URL, md5: str = OFFICIAL_MD5) -> CifarArrays:
    """Ensure CIFAR-10 is present under ``root`` (default: :func:`default_root`) and load it."""
    batches_dir = ensure_cifar10(default_root() if root is None else root,
                                 download=download, url=url, md5=md5)
    x_train, y_train = _read_split(batches_dir, TRAIN_BATCHES)
    x_test, y_test = _read_split(batches_dir, (TEST_BATCH,))
    return CifarArrays(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
