"""Journal records: typed in memory, one ``JSON<TAB>crc32`` line each on disk, append-only.

A line is valid only if it ends in a newline, its checksum matches and its JSON decodes to a
known record, so a record torn by a crash (or garbage appended by anything else) is recognised
and skipped. The JSON keeps the short keys journals have always had, so old journals stay
readable; :func:`record_to_json` / :func:`record_from_json` are the one codec.
"""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResponseRecord:
    """The outcome of one request: its response (``err`` None) or the error it raised.

    ``kind`` classifies an error (:data:`ERROR_KINDS`); records written before kinds existed
    decode with ``kind`` None.
    """

    key: str
    model: str
    reqtype: str
    task: str
    doc: int
    idx: int
    resp: Any = None
    err: str | None = None
    time: float = 0.0
    kind: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the request was answered."""
        return self.err is None


@dataclass(frozen=True)
class PlanRecord:
    """What one writer was asked to compute for one request type (``status`` reads these)."""

    reqtype: str
    model: str
    writer: str
    shard: tuple[int, int] | None
    tasks: dict[str, dict[str, int]]  # task -> doc id (as text) -> number of requests
    time: float = 0.0


Record = ResponseRecord | PlanRecord

#: What an errored request ran into: HTTP 429, HTTP 5xx, no answer in time, a dropped or refused
#: connection, another HTTP 4xx, accelerator out of memory, anything else.
ERROR_KINDS = (
    "rate_limit",
    "server_error",
    "timeout",
    "connection",
    "client_error",
    "oom",
    "error",
)

#: on-disk key -> field, for response records
_RESPONSE_KEYS = {
    "k": "key",
    "m": "model",
    "type": "reqtype",
    "task": "task",
    "doc": "doc",
    "idx": "idx",
    "resp": "resp",
    "err": "err",
    "t": "time",
    "kind": "kind",
}
_PLAN_KEYS = {
    "plan": "reqtype",
    "m": "model",
    "w": "writer",
    "shard": "shard",
    "tasks": "tasks",
    "t": "time",
}


def record_to_json(record: Record) -> dict[str, Any]:
    """The JSON object of a record (short keys, as journals store them)."""
    keys = _PLAN_KEYS if isinstance(record, PlanRecord) else _RESPONSE_KEYS
    obj = {short: getattr(record, name) for short, name in keys.items()}
    if isinstance(record, PlanRecord) and record.shard is not None:
        obj["shard"] = list(record.shard)
    if isinstance(record, ResponseRecord) and record.kind is None:
        del obj["kind"]  # successes (and unclassified errors) keep the lines they always had
    return obj


def record_from_json(obj: Any) -> Record | None:
    """The record a decoded JSON object holds, or None if it is not a valid record."""
    if not isinstance(obj, dict):
        return None
    try:
        if "plan" in obj:
            values = {name: obj.get(short) for short, name in _PLAN_KEYS.items()}
            values["writer"] = values["writer"] or ""
            values["shard"] = tuple(values["shard"]) if values["shard"] else None
            values["time"] = float(values["time"] or 0.0)
            return PlanRecord(**values)
        if isinstance(obj.get("k"), str):
            values = {name: obj.get(short) for short, name in _RESPONSE_KEYS.items()}
            values["doc"], values["idx"] = int(values["doc"]), int(values["idx"])
            values["time"] = float(values["time"] or 0.0)
            return ResponseRecord(**values)
    except (TypeError, ValueError):
        return None
    return None


def encode_record(record: Record) -> bytes:
    """One self-validating journal line for ``record`` (JSON escapes tabs, so TAB splits)."""
    body = json.dumps(
        record_to_json(record), ensure_ascii=False, separators=(",", ":"), allow_nan=True
    )
    data = body.encode("utf-8")
    return data + b"\t" + f"{zlib.crc32(data):08x}".encode() + b"\n"


def decode_line(line: bytes) -> Record | None:
    """The record of a complete line (without its newline), or None if it does not validate."""
    body, sep, crc = line.rpartition(b"\t")
    if not sep or len(crc) != 8:
        return None
    try:
        if int(crc, 16) != zlib.crc32(body):
            return None
        return record_from_json(json.loads(body))
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class ScanResult:
    """What :func:`scan_file` found in one journal file."""

    records: list[Record] = field(default_factory=list)
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
