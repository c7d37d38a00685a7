"""The journal's on-disk line format: ``JSON<TAB>crc32`` per record, append-only.

A line is valid only if it ends in a newline, its checksum matches and its JSON parses, so a
record torn by a crash (or garbage appended by anything else) is recognised and skipped.
"""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def encode_record(record: dict[str, Any]) -> bytes:
    """One self-validating journal line for ``record`` (JSON escapes tabs, so TAB splits)."""
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    data = body.encode("utf-8")
    return data + b"\t" + f"{zlib.crc32(data):08x}".encode() + b"\n"


def decode_line(line: bytes) -> dict[str, Any] | None:
    """The record of a complete line (without its newline), or None if it does not validate."""
    body, sep, crc = line.rpartition(b"\t")
    if not sep or len(crc) != 8:
        return None
    try:
        if int(crc, 16) != zlib.crc32(body):
            return None
        record = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


@dataclass
class ScanResult:
    """What :func:`scan_file` found in one journal file."""

    records: list[dict[str, Any]] = field(default_factory=list)
    good_end: int = 0  # byte offset just past the last valid line
    bad_lines: int = 0  # invalid complete lines (skipped)
    torn_tail: bool = False  # the file ends in a partial / invalid last line


def scan_file(path: Path) -> ScanResult:
    """Read every valid record of ``path``; invalid lines are counted, never fatal."""
    result = ScanResult()
    data = Path(path).read_bytes()
    offset = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        if end < 0:  # no newline: a write cut short by a crash
            result.torn_tail = True
            break
        record = decode_line(data[offset:end])
        if record is None:
            result.bad_lines += 1
            result.torn_tail = end + 1 == len(data)
        else:
            result.records.append(record)
            result.good_end = end + 1
            result.torn_tail = False
        offset = end + 1
    if result.torn_tail and result.bad_lines:
        result.bad_lines -= 1  # the invalid last line is the torn tail, not a corrupt record
    if result.bad_lines:
        log.warning("%s: skipped %d corrupt journal line(s)", path, result.bad_lines)
    return result
