"""The resume switch: ``--model_args ...,journal=OUT/journal`` wraps the model in a journal.

``models.factory.create_lm`` calls :func:`split_journal_args` before building the model and
:func:`open_journal` / :func:`wrap` around it, so the journal's lock is taken before the
(possibly long) model load and a second run on the same output refuses at once.
"""

from __future__ import annotations

import atexit
import logging
import os
from pathlib import Path
from typing import Any, Callable

from lm_eval_ext.errors import ModelArgsError
from lm_eval_ext.resume.journal import Journal, write_json_atomic
from lm_eval_ext.resume.keys import identity_hash, model_identity
from lm_eval_ext.resume.writer import kill_hook

log = logging.getLogger(__name__)

#: Model args of the resume layer (removed before the model sees its args).
JOURNAL_ARGS = frozenset(
    {"journal", "journal_strict", "journal_chunk", "journal_fsync", "journal_shard"}
)
#: Test hook: ``TASK:DOC,DOC;TASK2:DOC`` makes those docs' requests raise out-of-memory.
FAIL_ENV = "LM_EVAL_EXT_RESUME_FAIL"


def split_journal_args(args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model args without the journal's, the journal's); the latter is empty when off."""
    model_args = {k: v for k, v in args.items() if k not in JOURNAL_ARGS}
    opts = {k: v for k, v in args.items() if k in JOURNAL_ARGS}
    if opts and not opts.get("journal"):
        raise ModelArgsError(f"{', '.join(sorted(opts))} given without journal=DIR")
    return model_args, opts


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ModelArgsError(f"{name}={value}: expected true or false")


def writer_id_from_env() -> str:
    """``main`` for a single process, ``rankR`` under accelerate / torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))
    return f"rank{rank}" if world > 1 else "main"


def open_journal(model_args: dict[str, Any], opts: dict[str, Any]) -> tuple[Journal, str]:
    """Lock and load the journal, record the model's identity; returns (journal, model hash)."""
    try:
        fsync_s = float(opts.get("journal_fsync", 5.0))
    except ValueError:
        raise ModelArgsError(f"journal_fsync={opts['journal_fsync']}: expected seconds") from None
    journal = Journal(Path(str(opts["journal"])).expanduser(), writer_id_from_env(), fsync_s)
    journal.open()
    atexit.register(journal.close)
    kill_hook("load")
    cache = journal.fingerprint_cache()
    identity = model_identity(model_args, cache)
    journal.save_fingerprint_cache(cache)
    model_hash = identity_hash(identity)
    write_json_atomic(journal.root / f"model-{model_hash}.json", identity)
    log.info("journal: %s (model %s, %d entries on disk)", journal.root, model_hash,
             len(journal.entries))
    return journal, model_hash


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


def wrap(lm: Any, journal: Journal, model_hash: str, opts: dict[str, Any]) -> Any:
    """The built ``lm`` wrapped in a :class:`JournaledLM`."""
    from lm_eval_ext.resume.wrapper import DEFAULT_CHUNK, JournaledLM

    try:
        chunk = int(opts.get("journal_chunk", DEFAULT_CHUNK))
    except ValueError:
        raise ModelArgsError(
            f"journal_chunk={opts['journal_chunk']}: expected an integer") from None
    return JournaledLM(
        lm, journal, model_hash, chunk_size=chunk,
        strict=_as_bool("journal_strict", opts.get("journal_strict", False)),
        fail=fail_hook_from_env(),
        shard=parse_shard(opts.get("journal_shard")),
    )


def build_lm(make: Callable[..., Any], args: dict[str, Any],
             additional_config: dict[str, Any] | None = None) -> Any:
    """Build an LM from model args as lm-eval's ``create_from_arg_*`` do; the journal's seam.

    ``make(**model_args)`` builds the model (a class, or a dispatching constructor). Without
    ``journal=`` in ``args`` that is all; with it, the journal's args are removed, its lock is
    taken *before* the (possibly long) model load, and the model comes back wrapped in a
    :class:`JournaledLM`. ``additional_config`` values that are None are dropped, as lm-eval does.
    """
    extra = {k: v for k, v in (additional_config or {}).items() if v is not None}
    model_args, opts = split_journal_args({**args, **extra})
    journal = open_journal(model_args, opts) if opts else None
    lm = make(**model_args)
    return wrap(lm, *journal, opts) if journal else lm


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
