"""The real CIFAR-10 (python version): 50k training and 10k test images, 10 classes.

Download, md5 check, locking, extraction and parsing are cifar_archive.py's, shared with
CIFAR-100; this module only names the release. Layouts accepted under a data root:

    ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch}   (already extracted)
    ROOT/cifar-10-python.tar.gz                              (the official archive)
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError  # noqa: F401  (also imported from here)
from .cifar_archive import (ENV_ROOT, IMAGE_SHAPE, ROW_LENGTH, CifarArrays,  # noqa: F401
                            CifarRelease, default_root, ensure_extracted, load_release)

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"

ARCHIVE_NAME = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
NUM_CLASSES = 10

CIFAR10 = CifarRelease(title="CIFAR-10", url=OFFICIAL_URL, md5=OFFICIAL_MD5,
                       archive_name=ARCHIVE_NAME, folder=BATCHES_DIR,
                       train_files=TRAIN_BATCHES, test_files=(TEST_BATCH,),
                       label_key=b"labels", num_classes=NUM_CLASSES,
                       train_images=50_000)


def ensure_cifar10(root: str | os.PathLike, download: bool = True,
                   url: str = OFFICIAL_URL, md5: str = OFFICIAL_MD5) -> Path:
    """Make sure ``root/cifar-10-batches-py`` is complete and return its path."""
    return ensure_extracted(CIFAR10, root, download=download, url=url, md5=md5)


def load_cifar10(root: str | os.PathLike | None = None, download: bool = True,
                 url: str = OFFICIAL_URL, md5: str = OFFICIAL_MD5) -> CifarArrays:
    """Ensure CIFAR-10 is present under ``root`` (default: :func:`default_root`) and load it."""
    return load_release(CIFAR10, root, download=download, url=url, md5=md5)
