"""Journal files: self-validating lines, torn tails, foreign files, the writer lock."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lm_eval_ext.errors import JournalLockedError
from lm_eval_ext.resume.storage.journal import Journal, load_entries
from lm_eval_ext.resume.storage.lock import JournalLock
from lm_eval_ext.resume.storage.records import ResponseRecord, decode_line, encode_record, scan_file
from lm_eval_ext.resume.storage.writer import JournalWriter


def _rec(i: int, err: str | None = None) -> ResponseRecord:
    return ResponseRecord(
        key=f"key{i}",
        model="M",
        reqtype="loglikelihood",
        task="t",
        doc=i,
        idx=0,
        resp=[-1.5 * i, False],
        err=err,
    )


def test_line_roundtrip_and_checksum():
    line = encode_record(_rec(3))
    assert line.endswith(b"\n")
    assert decode_line(line[:-1]) == _rec(3)
    flipped = line.replace(b"-4.5", b"-4.6")
    assert decode_line(flipped[:-1]) is None  # same shape, wrong checksum
    assert decode_line(b'{"k": 1}') is None  # JSON but no checksum


def test_torn_tail_is_ignored_then_cut_by_the_next_writer(tmp_path):
    path = tmp_path / "main.jsonl"
    writer = JournalWriter(path)
    writer.append([_rec(1), _rec(2)])
    writer.close()
    with open(path, "ab") as fh:
        fh.write(encode_record(_rec(3))[:20])  # a crash half-way through a write
    scan = scan_file(path)
    assert [r.doc for r in scan.records] == [1, 2]
    assert scan.torn_tail and scan.bad_lines == 0
    writer = JournalWriter(path)
    writer.append([_rec(4)])
    writer.close()
    assert [r.doc for r in scan_file(path).records] == [1, 2, 4]
    assert not scan_file(path).torn_tail


def test_corrupt_middle_line_and_foreign_files_are_skipped(tmp_path):
    good = encode_record(_rec(1)) + b"garbage line\n" + encode_record(_rec(2))
    (tmp_path / "main.jsonl").write_bytes(good)
    (tmp_path / "notes.txt").write_text("not a journal")
    (tmp_path / "other.jsonl").write_text('{"k": "key9", "resp": 1}\n')  # no checksum
    entries, plans = load_entries(tmp_path)
    assert sorted(entries) == ["key1", "key2"] and plans == []
    assert scan_file(tmp_path / "main.jsonl").bad_lines == 1


def test_success_beats_error_and_error_is_not_done(tmp_path):
    journal = Journal(tmp_path, "main").open()
    journal.append([_rec(1, err="OutOfMemoryError: x")])
    assert journal.success("key1") is None and journal.entries["key1"].err
    journal.append([_rec(1)])
    journal.close()
    reopened = Journal(tmp_path, "main").open()
    assert reopened.success("key1").resp == [-1.5, False]
    reopened.close()


_HOLD = """
import sys, time
from pathlib import Path
from lm_eval_ext.resume.storage.lock import JournalLock
JournalLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_second_writer_refuses_naming_the_holder(tmp_path):
    lock_path = tmp_path / "main.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(lock_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(JournalLockedError) as exc:
            JournalLock(lock_path).acquire()
        assert f"pid {holder.pid}" in str(exc.value)
        assert socket.gethostname() in str(exc.value)
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing: its lock is stale and taken over.
    lock = JournalLock(lock_path).acquire()
    assert lock.took_over["pid"] == holder.pid
    assert json.loads(lock_path.read_text())["pid"] == os.getpid()
    lock.release()


def test_journal_files_of_other_writers_are_read(tmp_path):
    for writer_id, i in (("rank0", 1), ("rank1", 2)):
        journal = Journal(tmp_path, writer_id).open()
        journal.append([_rec(i)])
        journal.close()
    single = Journal(tmp_path, "main").open()
    assert single.success("key1") and single.success("key2")
    single.close()
    assert Path(tmp_path / "main.jsonl").exists()
