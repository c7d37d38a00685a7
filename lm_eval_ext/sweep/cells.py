"""A cell's state on disk: claimed (running), done, errored, or missing.

- **claim**: an ``flock`` on ``<cell>/.claim``, taken (non-blocking) by the sweep process that
  runs the cell and inherited by its ``lm_eval`` child, so the cell stays claimed while
  either lives and is free the moment both are gone (``kill -9`` and pre-emption included).
  The journal's own lock inside ``lm_eval`` remains the last line of defence.
- **done**: ``<cell>/done.json``, written only after ``lm_eval`` exited 0, a results file
  newer than the attempt exists and the journal has no errored or missing docs; valid while
  that results file exists.
- **errored**: ``<cell>/failed.json`` from the last attempt (exit status, reason, log tail).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CLAIM_FILE",
    "DONE_FILE",
    "FAILED_FILE",
    "LOG_FILE",
    "CellClaim",
    "CellState",
    "cell_state",
    "claim_now",
    "is_claimed",
    "read_done",
    "write_marker",
]

CLAIM_FILE = ".claim"
DONE_FILE = "done.json"
FAILED_FILE = "failed.json"
LOG_FILE = "lm_eval.log"


class CellClaim:
    """A non-blocking exclusive claim on one cell folder."""

    def __init__(self, cell_dir: Path) -> None:
        self.path = Path(cell_dir) / CLAIM_FILE
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the claim; False (at once) when a live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return True

    def release(self) -> None:
        """Drop the claim (children that inherited it keep it until they exit)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> CellClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_now(claim: CellClaim) -> bool:
    """Take ``claim``, trying twice: ``lm-eval-ext status`` probes claims by taking them briefly."""
    if claim.try_acquire():
        return True
    time.sleep(0.2)
    return claim.try_acquire()


def is_claimed(cell_dir: Path) -> bool:
    """Whether a live process holds the cell's claim (probed without keeping it)."""
    claim = CellClaim(cell_dir)
    if not claim.path.exists():
        return False
    if claim.try_acquire():
        claim.release()
        return False
    return True


def read_done(cell_dir: Path) -> dict | None:
    """The done marker, if present and its results file still exists."""
    try:
        done = json.loads((Path(cell_dir) / DONE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return done if (Path(cell_dir) / done.get("results", "\0")).is_file() else None


def write_marker(cell_dir: Path, name: str, data: dict) -> None:
    """Write ``done.json`` or ``failed.json`` atomically; a done cell loses its failed marker."""
    path = Path(cell_dir) / name
    tmp = path.with_name(f".{name}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    if name == DONE_FILE:
        (Path(cell_dir) / FAILED_FILE).unlink(missing_ok=True)


@dataclass(frozen=True)
class CellState:
    """What ``lm-eval-ext status`` shows for a cell."""

    state: str  # "done" | "running" | "errored" | "missing"
    detail: dict | None = None  # done.json or failed.json
    resumable: bool = False  # missing, but a journal holds part of its work


def cell_state(cell_dir: Path) -> CellState:
    """The state of the cell in ``cell_dir`` (running wins: a rerun may be under way)."""
    cell_dir = Path(cell_dir)
    if is_claimed(cell_dir):
        return CellState("running")
    done = read_done(cell_dir)
    if done is not None:
        return CellState("done", done)
    try:
        failed = json.loads((cell_dir / FAILED_FILE).read_text(encoding="utf-8"))
        return CellState("errored", failed)
    except (OSError, ValueError):
        pass
    journal = cell_dir / "journal"
    resumable = (
        any(p.stat().st_size for p in journal.glob("*.jsonl")) if journal.is_dir() else False
    )
    return CellState("missing", resumable=resumable)
