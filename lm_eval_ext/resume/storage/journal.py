"""A journal directory: one append-only file per writer, read together, one lock per file.

Every process (a rank of an accelerate run, a shard job, a rerun) appends to its own
``<writer>.jsonl`` under its own lock, and reads the entries of *all* files in the directory,
so a resume may use another number of processes or shards than the run it continues.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from lm_eval_ext.resume.storage.lock import JournalLock
from lm_eval_ext.resume.storage.records import PlanRecord, Record, ResponseRecord, scan_file
from lm_eval_ext.resume.storage.writer import JournalWriter

#: Journals this process holds open, by writer file. lm-eval never closes a model, and one
#: process evaluates sequentially, so a new run here closes the previous run's journal.
_OPEN: dict[Path, Journal] = {}


def close_open_journals() -> None:
    """Release every journal this process holds (in-process callers, between evaluations)."""
    for journal in list(_OPEN.values()):
        journal.close()
    _OPEN.clear()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via a temp file + rename, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


class JournalContents(NamedTuple):
    """Everything a journal directory holds."""

    entries: dict[str, ResponseRecord]  # request key -> outcome (a success beats an error)
    plans: list[PlanRecord]


def load_entries(root: Path) -> JournalContents:
    """All request outcomes and all plan records of every file in the journal ``root``."""
    entries: dict[str, ResponseRecord] = {}
    plans: list[PlanRecord] = []
    for path in sorted(Path(root).glob("*.jsonl")):
        for record in scan_file(path).records:
            if isinstance(record, PlanRecord):
                plans.append(record)
                continue
            old = entries.get(record.key)
            if old is None or not old.ok:
                entries[record.key] = record
    return JournalContents(entries, plans)


class Journal:
    """The journal directory ``root`` as seen by writer ``writer_id``."""

    def __init__(self, root: Path, writer_id: str, fsync_interval: float = 5.0) -> None:
        self.root = Path(root)
        self.writer_id = writer_id
        self.fsync_interval = fsync_interval
        self.lock = JournalLock(self.root / f"{writer_id}.lock")
        self.writer: JournalWriter | None = None
        self.entries: dict[str, ResponseRecord] = {}

    def open(self) -> Journal:
        """Take this writer's lock, repair its torn tail, and load every file's entries."""
        self.root.mkdir(parents=True, exist_ok=True)
        own_file = (self.root / f"{self.writer_id}.jsonl").resolve()
        previous = _OPEN.pop(own_file, None)
        if previous is not None:
            previous.close()
        self.lock.acquire()
        _OPEN[own_file] = self
        self.writer = JournalWriter(self.root / f"{self.writer_id}.jsonl", self.fsync_interval)
        self.entries, _ = load_entries(self.root)
        return self

    def success(self, key: str) -> ResponseRecord | None:
        """The successful entry for ``key``, if any."""
        record = self.entries.get(key)
        return record if record is not None and record.ok else None

    def append(self, records: list[Record]) -> None:
        """Journal ``records`` (already durable against a process kill when this returns)."""
        assert self.writer is not None, "Journal.open() first"
        stamp = time.time()
        records = [r if r.time else replace(r, time=stamp) for r in records]
        self.writer.append(records)
        for record in records:
            if isinstance(record, ResponseRecord) and self.success(record.key) is None:
                self.entries[record.key] = record

    def close(self) -> None:
        """fsync, close and release the lock."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.lock.release()
