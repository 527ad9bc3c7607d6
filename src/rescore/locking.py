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
    lock = path / LOCK_FILE
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        if err.errno not in _READ_ONLY:
            raise
        # every holder must lock the same object: the file where there is one
        return os.open(lock if lock.exists() else path, os.O_RDONLY)
    _let_everyone_write(fd)
    return fd


def _let_everyone_write(fd: int) -> None:
    """A shared folder's lock file must open for writing for every user (NFS wants a
    writable descriptor to lock), whatever the creator's umask; only its owner may chmod."""
    try:
        os.fchmod(fd, 0o666)
    except OSError:
        pass
