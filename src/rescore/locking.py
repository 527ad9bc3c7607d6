"""`with exclusive(path):` — an advisory lock (flock) held among processes and threads.

`path` is an existing directory (locked in place, so nothing is added to it) or a file
(created if missing). The kernel drops the lock when its holder dies, even by kill -9, so
a crash never leaves a lock to clean up. flock is per open file, so two threads of one
process exclude each other too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    path = Path(path)
    flags = os.O_RDONLY if path.is_dir() else os.O_RDWR | os.O_CREAT
    fd = os.open(path, flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
