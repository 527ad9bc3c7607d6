"""Where a file set aside goes: data/cifar_archive.py moves a bad archive aside and
train/checkpoint.py a bad checkpoint or state file, and neither may overwrite what an
earlier run set aside there (it is kept for inspection)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional


def free_name(path: Path, taken: Optional[Callable[[Path], bool]] = None) -> Path:
    """`path`, or path.1, path.2, …: the first that is not `taken` (default: exists).
    For a checkpoint prefix, `taken` asks whether any file of that prefix exists, so the
    files of one checkpoint keep one prefix and still load together."""
    taken = taken or Path.exists
    candidate, n = Path(path), 0
    while taken(candidate):
        n += 1
        candidate = Path(path).with_name(f"{Path(path).name}.{n}")
    return candidate


def prefix_taken(prefix: Path) -> bool:
    """Whether any file of checkpoint prefix `prefix` exists (ckpt-7.index, ckpt-7.data-…;
    not ckpt-70's): `taken` for free_name when the files of one checkpoint move together."""
    return any(Path(prefix).parent.glob(Path(prefix).name + ".*"))
