"""Fetch, verify and parse an official CIFAR "python version" archive into numpy arrays.

CIFAR-10 and CIFAR-100 ship the same way (a tar.gz of pickled batches, byte keys,
channel-major uint8 rows); a `CifarRelease` says what differs: names, md5, the batch
files and the label key. Two on-disk layouts are accepted under a data root:

    ROOT/<folder>/{batch files}     (already extracted), e.g. cifar-10-batches-py/
    ROOT/<archive>                  (the official archive), e.g. cifar-10-python.tar.gz

If neither is there the archive is downloaded. Every step is arranged so that an
interrupted or corrupt run never leaves something under a final name that a later
run would trust: downloads go to a ``.part`` file that is renamed only after its
md5 matches, and extraction happens in a temporary folder that is renamed into
place only when complete. Several processes may ask at once (the jobs of a first
multirun): the first to lock the root downloads and extracts, the others wait.

Pure Python + numpy on purpose: this module must be usable (and testable) without
TensorFlow.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import pickle
import shutil
import tarfile
import tempfile
import time
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional, Tuple

import numpy as np

from ..errors import DataError
from ..locking import exclusive
from ..paths import free_name

ENV_ROOT = "RESCORE_DATA"  # env var overriding the default root

IMAGE_SHAPE = (32, 32, 3)  # NHWC per image
ROW_LENGTH = 3 * 32 * 32  # one channel-major image per pickled row

_CHUNK_BYTES = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CifarRelease:
    """What tells one official CIFAR python archive from another."""
    title: str  # in messages: "CIFAR-10"
    url: str  # the official download
    md5: str  # of the official archive
    archive_name: str  # cifar-10-python.tar.gz
    folder: str  # the one folder inside it: cifar-10-batches-py
    train_files: Tuple[str, ...]
    test_files: Tuple[str, ...]
    label_key: bytes  # b"labels" (CIFAR-10) or b"fine_labels" (CIFAR-100)
    num_classes: int
    train_images: int  # in train_files together

    @property
    def required_files(self) -> Tuple[str, ...]:
        return self.train_files + self.test_files


@dataclass(frozen=True, eq=False)  # eq=False: == and hash on arrays are ambiguous
class CifarArrays:
    x_train: np.ndarray  # (N, 32, 32, 3) uint8, NHWC
    y_train: np.ndarray  # (N,) int32
    x_test: np.ndarray  # (M, 32, 32, 3) uint8, NHWC
    y_test: np.ndarray  # (M,) int32

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


def _where_to_put_it(release: CifarRelease, root: Path, url: str) -> str:
    tried = "" if url == release.url else f" (this run tried {url})"
    return (
        f"Put {release.title} under {root} in either layout:\n"
        f"  {root / release.folder}/ containing {', '.join(release.required_files)}, or\n"
        f"  {root / release.archive_name}, the official archive from {release.url}{tried}.\n"
        f"To use another folder set the {ENV_ROOT} environment variable "
        f"or pass data.root=/path/to/folder."
    )


# ------------------------------------------------------------------ fetch + verify


def ensure_extracted(release: CifarRelease, root: str | os.PathLike, download: bool = True,
                     url: Optional[str] = None, md5: Optional[str] = None) -> Path:
    """Make sure ``root/<release.folder>`` is complete and return its path (url and md5:
    the release's own unless given, as tests do)."""
    url = release.url if url is None else url
    md5 = release.md5 if md5 is None else md5
    root = Path(root).expanduser()
    batches_dir = root / release.folder
    if batches_dir.exists():
        _check_batches_dir_complete(release, batches_dir)
        return batches_dir
    if not download and not (root / release.archive_name).exists():
        raise _not_found(release, root, url)  # before mkdir: a refused load creates nothing
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _root_not_writable(release, root, err) from err
    with exclusive(root):
        if batches_dir.exists():  # another process finished while we waited
            _check_batches_dir_complete(release, batches_dir)
            return batches_dir
        _fetch_and_extract(release, root, download, url, md5)
    return batches_dir


def _fetch_and_extract(release: CifarRelease, root: Path, download: bool, url: str,
                       md5: str) -> None:
    archive = root / release.archive_name
    if archive.exists():
        _verify_placed_archive(archive, md5)
    elif download:
        _download_verified(release, url, archive, md5, root)
    else:  # the archive went away while we waited for the lock
        raise _not_found(release, root, url)
    _extract_atomically(release, archive, root)


def _not_found(release: CifarRelease, root: Path, url: str) -> DataError:
    return DataError(f"{release.title} not found and download=False.\n"
                     f"{_where_to_put_it(release, root, url)}")


def _root_not_writable(release: CifarRelease, root: Path, err: OSError) -> DataError:
    """A shared, read-only data folder: say so, and the two ways out."""
    return DataError(
        f"Cannot write to the data root {root} ({err}), which {release.title} needs to be "
        f"downloaded or extracted into. Extract it there once by someone who can write "
        f"(tar xzf {release.archive_name} gives {release.folder}/), or set the {ENV_ROOT} "
        f"environment variable or data.root=/path/to/folder to a folder you can write.")


def _check_batches_dir_complete(release: CifarRelease, batches_dir: Path) -> None:
    # Our own extraction is atomic, so a partial folder was made by someone else:
    # refuse to guess rather than silently delete user files.
    missing = [name for name in release.required_files if not (batches_dir / name).is_file()]
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
    try:
        actual_md5 = _md5_of_file(archive)
    except OSError as err:  # unreadable is not corrupt: it stays where it is
        raise DataError(f"Could not read {archive}: {err}. Check that you can read it "
                        f"and run again.") from err
    if actual_md5 == expected_md5:
        return
    quarantined = free_name(archive.with_name(archive.name + ".bad"))
    try:
        os.replace(archive, quarantined)
        what_now = (f"has been moved to {quarantined}. Place a good copy at {archive} or "
                    f"run again with data.download=true.")
    except OSError as err:  # a read-only folder: the md5s still say what is wrong
        what_now = (f"could not be moved aside ({err}), so it is still there: replace it "
                    f"with a good copy.")
    raise DataError(
        f"{archive} is corrupt or truncated: expected md5 {expected_md5}, "
        f"actual md5 {actual_md5}. It was not used and {what_now}")


def _download_verified(release: CifarRelease, url: str, archive: Path, expected_md5: str,
                       root: Path) -> None:
    """Stream ``url`` to ``archive.part`` hashing as we go; rename only on a match."""
    partial = archive.with_name(archive.name + ".part")
    log.info("Downloading %s to %s", url, archive)
    try:
        actual_md5 = _stream_to_file(url, partial)
    # URLError, HTTPError and timeouts are OSErrors; a garbled or cut-off HTTP response
    # (BadStatusLine, IncompleteRead) is an HTTPException, which is not
    except (OSError, ValueError, http.client.HTTPException) as err:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"Could not download {release.title} from {url}: {err}.\n"
            f"{_where_to_put_it(release, root, url)}") from err
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


STAGING_PREFIX = ".extract-"
STALE_STAGING_S = 3600  # an extraction takes seconds; an hour-old staging folder is dead

# OSErrors that say the destination cannot take the files, not that the archive is bad
_DESTINATION_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM,
                       errno.EROFS}


def _extract_atomically(release: CifarRelease, archive: Path, root: Path) -> None:
    """Called under the root's lock; a staging folder already there and an hour old was
    left by a process killed while extracting (before its signal handlers existed):
    removed. A younger one is left alone: the lock is per machine where flock is (a root
    shared over NFS), so it may be another machine's extraction under way."""
    for stale in root.glob(STAGING_PREFIX + "*"):
        if time.time() - stale.stat().st_mtime > STALE_STAGING_S:
            shutil.rmtree(stale, ignore_errors=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
    except OSError as err:
        raise _root_not_writable(release, root, err) from err
    try:
        _extract_batches(release, archive, staging / release.folder)
        _check_batches_dir_complete(release, staging / release.folder)
        try:
            os.replace(staging / release.folder, root / release.folder)
        except OSError:
            # Another process may have finished first; its complete copy is as good.
            if not (root / release.folder).is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_batches(release: CifarRelease, archive: Path, destination: Path) -> None:
    """Copy only plain files directly inside ``release.folder/``.

    Member names are never used as paths beyond their basename, so absolute
    paths, ``..`` and links in a hostile archive cannot write outside the folder.
    """
    try:
        destination.mkdir(parents=True)
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                basename = _basename_in_folder(member, release.folder)
                if basename is None:
                    continue
                with tar.extractfile(member) as src, open(destination / basename, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK_BYTES)
    except OSError as err:
        if err.errno not in _DESTINATION_ERRNOS:  # gzip's BadGzipFile is an OSError too
            raise _bad_archive(archive, err) from err
        raise DataError(
            f"Could not extract {archive} into {destination.parent.parent}: {err}. The "
            f"archive was kept, as nothing says it is bad: free some space or fix the "
            f"permissions there (or set data.root=/path/to/folder), and run again.") from err
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise _bad_archive(archive, err) from err


def _bad_archive(archive: Path, err: Exception) -> DataError:
    return DataError(f"Could not extract {archive}: {err}. Delete it and run again.")


def _basename_in_folder(member: tarfile.TarInfo, folder: str) -> str | None:
    if not member.isfile():
        return None
    parts = member.name.replace("\\", "/").split("/")
    parts = [p for p in parts if p not in ("", ".")]
    if len(parts) != 2 or parts[0] != folder or parts[1] == "..":
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


def _read_batch(release: CifarRelease, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> (N, 32, 32, 3) uint8 images and (N,) int32 labels."""
    try:
        with open(path, "rb") as f:
            batch = _unpickle_bytes_keys(f)
    except OSError as err:  # the file may be fine: nobody should delete it for this
        raise DataError(f"Could not read {path}: {err}. Check that you can read it "
                        f"(permissions, the disk) and run again.") from err
    except MemoryError as err:
        raise DataError(f"Ran out of memory reading {path}; the file was left as it "
                        f"is.") from err
    except Exception as err:  # pickle raises many types on garbage input
        raise DataError(f"{path} is not a readable {release.title} batch ({err}). "
                        f"Delete {path.parent} and run again.") from err
    return _images_and_labels(release, batch, path)


def _unpickle_bytes_keys(f: BinaryIO) -> object:
    # encoding="bytes" as the Keras reader does: Python 2 str keys become bytes.
    return _BatchUnpickler(f, encoding="bytes").load()


def _images_and_labels(release: CifarRelease, batch: object,
                       path: Path) -> tuple[np.ndarray, np.ndarray]:
    def bad(what: str) -> DataError:
        return DataError(f"{path} is not a valid {release.title} batch: {what}. "
                         f"Delete {path.parent} and run again.")

    key = release.label_key
    if not isinstance(batch, dict) or b"data" not in batch or key not in batch:
        raise bad(f'expected a dict with keys b"data" and {key!r}')
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 \
            or data.ndim != 2 or data.shape[1] != ROW_LENGTH:
        raise bad(f"data must be a uint8 array of shape (N, {ROW_LENGTH}), got "
                  f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
    labels = np.asarray(batch[key])
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise bad(f"labels must be {len(data)} integers, got {labels.dtype} {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= release.num_classes):
        raise bad(f"labels must lie in 0..{release.num_classes - 1}, "
                  f"got {labels.min()}..{labels.max()}")
    # Rows are channel-major (1024 R, 1024 G, 1024 B); the models want NHWC.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int32)


def _read_split(release: CifarRelease, batches_dir: Path,
                names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    parts = [_read_batch(release, batches_dir / name) for name in names]
    return (np.concatenate([images for images, _ in parts]),
            np.concatenate([labels for _, labels in parts]))


def load_release(release: CifarRelease, root: str | os.PathLike | None = None,
                 download: bool = True, url: Optional[str] = None,
                 md5: Optional[str] = None) -> CifarArrays:
    """Ensure `release` is present under ``root`` (default: :func:`default_root`) and load it."""
    batches_dir = ensure_extracted(release, default_root() if root is None else root,
                                   download=download, url=url, md5=md5)
    x_train, y_train = _read_split(release, batches_dir, release.train_files)
    x_test, y_test = _read_split(release, batches_dir, release.test_files)
    return CifarArrays(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
