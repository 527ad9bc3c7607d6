"""The real CIFAR-100 (python version): 50k training and 10k test images, 100 classes.

Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images"; the archive from
https://www.cs.toronto.edu/~kriz/cifar.html. Its pickles `train` and `test` hold b"data"
(N×3072 uint8, channel-major), b"fine_labels" (0..99), b"coarse_labels" (the 20
superclasses), b"filenames" and b"batch_label"; `meta` names the classes. The fine labels
are the ones used (100 classes), as in He et al. 2016b's CIFAR-100 results.

Download, md5 check, locking, extraction and parsing are cifar_archive.py's, shared with
CIFAR-10. Layouts accepted under a data root:

    ROOT/cifar-100-python/{train, test}         (already extracted; meta is not read)
    ROOT/cifar-100-python.tar.gz                (the official archive)
"""

from __future__ import annotations

import os
from pathlib import Path

from .cifar_archive import CifarArrays, CifarRelease, ensure_extracted, load_release

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
OFFICIAL_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"

ARCHIVE_NAME = "cifar-100-python.tar.gz"
BATCHES_DIR = "cifar-100-python"
NUM_CLASSES = 100

CIFAR100 = CifarRelease(title="CIFAR-100", url=OFFICIAL_URL, md5=OFFICIAL_MD5,
                        archive_name=ARCHIVE_NAME, folder=BATCHES_DIR,
                        train_files=("train",), test_files=("test",),
                        label_key=b"fine_labels", num_classes=NUM_CLASSES,
                        train_images=50_000)


def ensure_cifar100(root: str | os.PathLike, download: bool = True,
                    url: str = OFFICIAL_URL, md5: str = OFFICIAL_MD5) -> Path:
    """Make sure ``root/cifar-100-python`` is complete and return its path."""
    return ensure_extracted(CIFAR100, root, download=download, url=url, md5=md5)


def load_cifar100(root: str | os.PathLike | None = None, download: bool = True,
                  url: str = OFFICIAL_URL, md5: str = OFFICIAL_MD5) -> CifarArrays:
    """Ensure CIFAR-100 is present under ``root`` (default: $RESCORE_DATA or
    ~/.cache/rescore) and load it with its fine labels."""
    return load_release(CIFAR100, root, download=download, url=url, md5=md5)
