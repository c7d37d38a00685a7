"""One writer per journal file: an ``flock`` on a side file that also names its holder.

The kernel drops an ``flock`` when its process dies (``kill -9`` included), so a lock left by a
dead process is taken over without guessing from pids; the pid/host written into the file are
only there to tell the user who holds a live lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from lm_eval_ext.errors import JournalLockedError


class JournalLock:
    """Exclusive, non-blocking lock on ``path`` held for the lifetime of the object."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self.took_over: dict | None = None

    def acquire(self) -> JournalLock:
        """Take the lock or raise :class:`JournalLockedError` naming the live holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise JournalLockedError(
                f"{self.path}: journal is in use by pid {holder.get('pid', '?')} on host "
                f"{holder.get('host', '?')} (since {holder.get('started', '?')}); another run on "
                "the same output is still alive. Wait for it or stop it; two writers would "
                "interleave records."
            ) from None
        previous = _read_holder(fd)
        self.took_over = previous or None  # a lock file with content but no live flock: stale
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (the file stays; its content no longer matters)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> JournalLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> dict:
    raw = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    try:
        holder = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {"raw": raw[:100]}
    return holder if isinstance(holder, dict) else {}
