"""`with exclusive(path):` — an advisory lock (flock) held among processes and threads.

`path` is a file (created if missing) or an existing directory, which is locked through
the file `LOCK_FILE` inside it: flock on a regular file reaches every machine that mounts
an NFS share (Linux sends it to the server as a lock), flock on a directory does not, so
the jobs of a multi-node sweep sharing a data folder would each get "the" lock. Where that
file cannot be created (a read-only folder, which nobody will write into anyway), the
directory itself is locked. The kernel drops the lock when its holder dies, even by
kill -9, so a crash never leaves a lock to clean up; the file stays, empty. flock is per
open file, so two threads of one process exclude each other too.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Iterator


LOCK_FILE = ".rescore.lock"
_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    fd = _open_lockable(Path(path))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _open_lockable(path: Path) -> int:
    if not path.is_dir():
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        return os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        if err.errno not in _READ_ONLY:
            raise
        return os.open(path, os.O_RDONLY)
