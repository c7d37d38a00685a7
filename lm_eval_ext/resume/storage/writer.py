"""Appending records to one journal file: one ``write`` per flush, ``fsync`` at an interval.

A record handed to ``os.write`` survives the process being killed (it is in the page cache);
``fsync`` bounds what a power loss can take to ``fsync_interval`` seconds of work.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from lm_eval_ext.resume.storage.records import Record, encode_record, scan_file

#: Test hook: ``load`` (die after taking the lock), ``record:N`` (die after the write holding the
#: N-th record), ``torn:N`` (write half of the N-th record, then die), ``call:N`` (die when the
#: N-th model call has its first response, before journaling it, or returns without reporting
#: any: a kill mid-computation). Used by the kill tests.
KILL_ENV = "LM_EVAL_EXT_RESUME_KILL"


def kill_hook(stage: str, count: int = 0, total_after: int = 0) -> tuple[str, int] | None:
    """Whether ``$LM_EVAL_EXT_RESUME_KILL`` targets this point (``load`` dies at once).

    For a write of records ``count+1 .. total_after``, returns ``("record"|"torn", N)`` when
    the N-th record is among them; the writer then dies after (or half-way through) it.
    """
    what, _, num = os.environ.get(KILL_ENV, "").partition(":")
    if what == "load" and stage == "load":
        die()
    if what == "call" and stage == "call" and num.isdigit() and count == int(num):
        die()
    if (
        what in ("record", "torn")
        and stage == "write"
        and num.isdigit()
        and (count < int(num) <= total_after)
    ):
        return what, int(num)
    return None


def die() -> None:
    """SIGKILL ourselves: no cleanup, no atexit, exactly like a pre-emption."""
    os.kill(os.getpid(), signal.SIGKILL)


class JournalWriter:
    """Append-only writer for one journal file (the caller holds its lock)."""

    def __init__(self, path: Path, fsync_interval: float = 5.0) -> None:
        self.path = Path(path)
        self.fsync_interval = fsync_interval
        self.written = 0
        if self.path.exists():
            scan = scan_file(self.path)
            if scan.good_end < self.path.stat().st_size and scan.torn_tail:
                # Cut the torn tail so the next record starts on a line of its own.
                os.truncate(self.path, scan.good_end)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._last_sync = time.monotonic()

    def append(self, records: list[Record]) -> None:
        """Write ``records`` with one system call; fsync if the interval has passed."""
        if not records:
            return
        lines = [encode_record(r) for r in records]
        hook = kill_hook("write", self.written, self.written + len(lines))
        if hook is not None:
            self._write_and_die(lines, *hook)
        os.write(self._fd, b"".join(lines))
        self.written += len(lines)
        if time.monotonic() - self._last_sync >= self.fsync_interval:
            self.sync()

    def _write_and_die(self, lines: list[bytes], what: str, n: int) -> None:
        if what == "record":  # the whole write lands, then the process dies
            os.write(self._fd, b"".join(lines))
            die()
        index = n - self.written - 1
        os.write(self._fd, b"".join(lines[:index]) + lines[index][: len(lines[index]) // 2])
        die()

    def sync(self) -> None:
        """Force written records to disk."""
        os.fsync(self._fd)
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """fsync and close (idempotent)."""
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None
