"""The journal's one seam: ``build_lm`` turns model args into an LM, journaled on ``journal=``.

Every model lm-eval builds from model args reaches it: ``registration`` routes the
``create_from_arg_*`` of every registered backend here when the args hold a journal arg
(``_compat.lm_eval_creation``), and ``mgm_lora`` calls it itself. The model classes never see
the journal's args. The journal's lock is taken before the (possibly long) model load, so a
second run on the same output refuses at once.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable
from typing import Any

from lm_eval_ext._compat.lm_eval_api import api_endpoint, is_api_backend
from lm_eval_ext.checkpoints.hashing import HashCache
from lm_eval_ext.resume.online.api_retry import ApiRetries, RetryPolicy
from lm_eval_ext.resume.online.journaled_lm import JournaledLM
from lm_eval_ext.resume.online.options import (
    JournalOptions,
    fail_hook_from_env,
    split_journal_args,
    writer_id_from_env,
)
from lm_eval_ext.resume.storage.journal import Journal, write_json_atomic
from lm_eval_ext.resume.storage.keys import api_identity, identity_hash, model_identity
from lm_eval_ext.resume.storage.writer import kill_hook

log = logging.getLogger(__name__)


def build_lm(
    make: Callable[..., Any],
    args: dict[str, Any],
    additional_config: dict[str, Any] | None = None,
    *,
    backend: type | None = None,
) -> Any:
    """Build an LM from model args as lm-eval's ``create_from_arg_*`` do; the journal's seam.

    ``make(**model_args)`` builds the model (a class, or a dispatching constructor); ``backend``
    is the class it builds when ``make`` is not that class (it tells API models apart). Without
    a journal arg in ``args`` that is all; with one, the journal's args are removed, its lock
    is taken *before* the model load, and the model comes back wrapped in a
    :class:`JournaledLM`. ``additional_config`` values that are None are dropped, as lm-eval
    does.
    """
    extra = {k: v for k, v in (additional_config or {}).items() if v is not None}
    model_args, options = split_journal_args({**args, **extra})
    if options is None:
        return make(**model_args)
    journal = open_journal(options)
    if is_api_backend(backend if backend is not None else make):
        lm = make(**model_args)
        cache = HashCache.load()
        identity = api_identity(model_args, api_endpoint(lm), cache)
        api = ApiRetries(lm, RetryPolicy(options.retry_s))
    else:
        cache = HashCache.load()  # the user-level stat cache the merged cache uses too
        identity = model_identity(model_args, cache)  # before the load: a bad arg fails fast
        lm, api = None, None
    cache.save()
    model_hash = record_model(journal, identity)
    if lm is None:
        lm = make(**model_args)
    return JournaledLM(lm, journal, model_hash, options, fail=fail_hook_from_env(), api=api)


def open_journal(options: JournalOptions) -> Journal:
    """Lock and load the journal (a second writer on it raises ``JournalLockedError``)."""
    journal = Journal(options.root, writer_id_from_env(), options.fsync)
    journal.open()
    atexit.register(journal.close)
    kill_hook("load")
    return journal


def record_model(journal: Journal, identity: dict[str, Any]) -> str:
    """Write the model's identity next to the journal; returns its hash (part of every key)."""
    model_hash = identity_hash(identity)
    write_json_atomic(journal.root / f"model-{model_hash}.json", identity)
    log.info(
        "journal: %s (model %s, %d entries on disk)", journal.root, model_hash, len(journal.entries)
    )
    return model_hash
