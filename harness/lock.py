"""One owner per run: a lock file in each run folder, and who holds it.

A process trains a run only while it holds the run's lock, ``<run folder>/.lock``: an exclusive
``flock`` taken with the ``filelock`` package (:func:`acquire`). The kernel drops a ``flock``
when its holder exits in any way, SIGKILL included, so a dead owner never blocks a run, and
the lock file itself (empty, never removed) is no sign of life.
A second process that finds the lock held skips the run (:mod:`harness.runner`), whether it is
a local ``harness run`` or a Slurm task.

Readers (``harness status``, ``harness report``) ask :func:`is_held`, a shared non-blocking
``flock`` on a read-only handle (it creates nothing, so it works on read-only results): a run
recorded as running whose lock nobody holds has lost its owner. The owner's pid and host are in
its ``run.json`` (:func:`this_owner`), for messages and for folders without a lock file.

Locks need a filesystem whose ``flock`` works between the machines that share it: local disks,
and NFS v4 (Linux maps ``flock`` to NFS byte-range locks). A leaf module: imports nothing of
the harness.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

#: The lock file's name inside a run folder.
LOCK_NAME = ".lock"
#: How long :func:`acquire` waits for a held lock. A reader's probe holds it for microseconds;
#: an owner holds it for the whole run, so a short wait tells the two apart.
ACQUIRE_TIMEOUT_S = 2.0


def acquire(folder: Path, timeout: float = ACQUIRE_TIMEOUT_S) -> FileLock | None:
    """Take the run folder's lock (creating the folder), or None when another process holds it.

    The caller releases it with ``lock.release()``; the kernel releases it if the process dies.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / LOCK_NAME))
    try:
        lock.acquire(timeout=timeout, poll_interval=0.05)
    except Timeout:
        return None
    return lock


def is_held(folder: Path) -> bool | None:
    """Whether a live process holds the run folder's lock.

    Returns:
        True (held), False (nobody holds it: any owner is gone), or None (cannot tell: no lock
        file, as in folders written before locks or never started, or no ``flock`` on this
        filesystem).
    """
    try:
        fd = os.open(Path(folder) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return True
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def this_owner() -> dict[str, Any]:
    """The fields a run's record gets when this process takes it: ``pid`` and ``hostname``."""
    return {"pid": os.getpid(), "hostname": socket.gethostname()}


def describe_owner(record: dict[str, Any]) -> str:
    """``pid N on HOST`` from a run record (``pid unknown`` when it has none yet)."""
    pid, host = record.get("pid"), record.get("hostname")
    return f"pid {pid or 'unknown'} on {host or 'an unknown host'}"


def owner_alive(record: dict[str, Any]) -> bool | None:
    """Whether the process a run record names is alive, when that can be told from here (its
    host is this host); None otherwise. For folders without a lock file."""
    pid, host = record.get("pid"), record.get("hostname")
    if not pid or host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError):
        return None
    return True
