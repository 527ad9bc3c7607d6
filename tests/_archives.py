"""Archives in the official CIFAR format, written by the data tests (no real download)."""

import hashlib
import io
import tarfile
from pathlib import Path


def write_tarball(path: Path, members: dict) -> Path:
    """A .tar.gz holding `members` (name → bytes), as the official archives are packed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def entries(folder: Path) -> list:
    """The names in `folder`, sorted, without the lock file a lock on it leaves
    (rescore.locking: a directory is locked through a file inside it)."""
    from rescore.locking import LOCK_FILE

    return sorted(p.name for p in Path(folder).iterdir() if p.name != LOCK_FILE)
