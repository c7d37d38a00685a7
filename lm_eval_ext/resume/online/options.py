"""The journal's model args (``journal=DIR`` and friends), parsed once into typed options."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval_ext.errors import ModelArgsError

#: Model args of the resume layer (removed before the model sees its args).
JOURNAL_ARGS = frozenset(
    {
        "journal",
        "journal_strict",
        "journal_chunk",
        "journal_fsync",
        "journal_shard",
        "journal_retry_s",
    }
)
#: Requests per model call: a kill loses at most one chunk's work; bigger chunks batch better
#: (bench/resume.py: journal overhead vs chunk size).
DEFAULT_CHUNK = 256
#: API models: how long requests keep being retried while no request gets an answer.
DEFAULT_RETRY_S = 600.0
#: Test hook: ``TASK:DOC,DOC;TASK2:DOC`` makes those docs' requests raise out-of-memory.
FAIL_ENV = "LM_EVAL_EXT_RESUME_FAIL"


@dataclass(frozen=True)
class JournalOptions:
    """The parsed ``journal*`` model args.

    Attributes:
        root: the journal directory (``journal=DIR``).
        strict: exit non-zero when requests still fail, instead of excluding their docs.
        chunk: requests per model call; a kill loses at most one chunk.
        fsync: seconds between fsyncs.
        shard: ``(k, n)``: compute only chunks ``c`` with ``c % n == k``.
        retry_s: API models: a request failing with a rate limit, server error, timeout or
            dropped connection is retried until no request of the run has been answered for
            this many seconds; then it is journaled as an error.
    """

    root: Path
    strict: bool = False
    chunk: int = DEFAULT_CHUNK
    fsync: float = 5.0
    shard: tuple[int, int] | None = None
    retry_s: float = DEFAULT_RETRY_S

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> JournalOptions:
        """Options from the ``journal*`` args; a clear error for every bad value."""
        if not raw.get("journal"):
            raise ModelArgsError(f"{', '.join(sorted(raw))} given without journal=DIR")
        return cls(
            root=Path(str(raw["journal"])).expanduser(),
            strict=_as_bool("journal_strict", raw.get("journal_strict", False)),
            chunk=max(1, _as_number("journal_chunk", raw.get("journal_chunk", DEFAULT_CHUNK), int)),
            fsync=_as_number("journal_fsync", raw.get("journal_fsync", 5.0), float),
            shard=parse_shard(raw.get("journal_shard")),
            retry_s=max(
                0.0,
                _as_number("journal_retry_s", raw.get("journal_retry_s", DEFAULT_RETRY_S), float),
            ),
        )


def wants_journal(args: dict[str, Any]) -> bool:
    """Whether model args switch the journal on (hold any ``journal*`` arg)."""
    return any(k in JOURNAL_ARGS for k in args)


def split_journal_args(args: dict[str, Any]) -> tuple[dict[str, Any], JournalOptions | None]:
    """(model args without the journal's, the journal's options or None when it is off)."""
    model_args = {k: v for k, v in args.items() if k not in JOURNAL_ARGS}
    raw = {k: v for k, v in args.items() if k in JOURNAL_ARGS}
    return model_args, (JournalOptions.parse(raw) if raw else None)


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ModelArgsError(f"{name}={value}: expected true or false")


def _as_number(name: str, value: Any, kind: type) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number of seconds"
        raise ModelArgsError(f"{name}={value}: expected {what}") from None


def parse_shard(value: Any) -> tuple[int, int] | None:
    """``"K/N"`` -> ``(K, N)`` with ``0 <= K < N``; None when not sharded."""
    if value is None or str(value).strip() == "":
        return None
    k, sep, n = str(value).partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        shard = (-1, 0)
    if not sep or not 0 <= shard[0] < shard[1]:
        raise ModelArgsError(f"journal_shard={value}: expected K/N with 0 <= K < N, e.g. 0/4")
    return shard


def writer_id_from_env() -> str:
    """``main`` for a single process, ``rankR`` under accelerate / torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))
    return f"rank{rank}" if world > 1 else "main"


def fail_hook_from_env() -> Callable[[Any], bool] | None:
    """The request predicate of ``$LM_EVAL_EXT_RESUME_FAIL``, or None when unset."""
    spec = os.environ.get(FAIL_ENV, "").strip()
    if not spec:
        return None
    targets: set[tuple[str, int]] = set()
    for part in spec.split(";"):
        task, _, docs = part.partition(":")
        targets.update((task.strip(), int(d)) for d in docs.split(",") if d.strip())
    return lambda req: (req.task_name, req.doc_id) in targets
