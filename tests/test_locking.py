"""rescore.locking: a directory is locked through a file inside it, which an NFS client
sends to the server (flock on the directory itself stays on one machine); a folder that
file cannot be made in is locked in place."""

import errno
import os
import threading
import time

from rescore import locking
from rescore.locking import LOCK_FILE, exclusive


def test_a_directory_is_locked_through_its_lock_file_and_excludes_a_second_holder(tmp_path):
    order = []

    def second():
        with exclusive(tmp_path):
            order.append("second")

    with exclusive(tmp_path):
        other = threading.Thread(target=second)
        other.start()
        time.sleep(0.2)
        order.append("first done")
    other.join(5)
    assert order == ["first done", "second"]
    assert (tmp_path / LOCK_FILE).is_file() and (tmp_path / LOCK_FILE).stat().st_size == 0


def test_a_folder_the_lock_file_cannot_be_made_in_is_locked_in_place(tmp_path, monkeypatch):
    real_open = os.open

    def read_only(path, flags, *mode):
        if str(path).endswith(LOCK_FILE):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *mode)

    monkeypatch.setattr(locking.os, "open", read_only)
    with exclusive(tmp_path):
        pass
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_file_path_is_itself_the_lock(tmp_path):
    guard = tmp_path / "run.lock.guard"
    with exclusive(guard):
        assert guard.is_file()
    assert not (tmp_path / LOCK_FILE).exists()


def test_the_lock_file_opens_for_writing_for_every_user_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        with exclusive(tmp_path):
            pass
    finally:
        os.umask(old)
    assert (tmp_path / LOCK_FILE).stat().st_mode & 0o777 == 0o666


def test_a_reader_of_a_read_only_folder_locks_the_same_file_the_writers_do(tmp_path,
                                                                          monkeypatch):
    with exclusive(tmp_path):
        pass  # the lock file exists now
    real_open = os.open
    opened = []

    def no_write(path, flags, *mode):
        if flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        opened.append(str(path))
        return real_open(path, flags, *mode)

    monkeypatch.setattr(locking.os, "open", no_write)
    with exclusive(tmp_path):
        pass
    assert opened == [str(tmp_path / LOCK_FILE)]
