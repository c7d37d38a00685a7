"""The journal's one seam: ``build_lm`` turns model args into an LM, journaled on ``journal=``.

Every model whose ``create_from_arg_*`` calls :func:`build_lm` gets the resume layer; the model
classes never see the journal's args. The journal's lock is taken before the (possibly long)
model load, so a second run on the same output refuses at once.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable
from typing import Any

from lm_eval_ext.checkpoints.hashing import HashCache
from lm_eval_ext.resume.online.journaled_lm import JournaledLM
from lm_eval_ext.resume.online.options import (
    JournalOptions,
    fail_hook_from_env,
    split_journal_args,
    writer_id_from_env,
)
from lm_eval_ext.resume.storage.journal import Journal, write_json_atomic
from lm_eval_ext.resume.storage.keys import identity_hash, model_identity
from lm_eval_ext.resume.storage.writer import kill_hook

log = logging.getLogger(__name__)


def build_lm(
    make: Callable[..., Any], args: dict[str, Any], additional_config: dict[str, Any] | None = None
) -> Any:
    """Build an LM from model args as lm-eval's ``create_from_arg_*`` do; the journal's seam.

    ``make(**model_args)`` builds the model (a class, or a dispatching constructor). Without
    ``journal=`` in ``args`` that is all; with it, the journal's args are removed, its lock is
    taken *before* the model load, and the model comes back wrapped in a :class:`JournaledLM`.
    ``additional_config`` values that are None are dropped, as lm-eval does.
    """
    extra = {k: v for k, v in (additional_config or {}).items() if v is not None}
    model_args, options = split_journal_args({**args, **extra})
    if options is None:
        return make(**model_args)
    journal, model_hash = open_journal(model_args, options)
    return JournaledLM(make(**model_args), journal, model_hash, options, fail=fail_hook_from_env())


def open_journal(model_args: dict[str, Any], options: JournalOptions) -> tuple[Journal, str]:
    """Lock and load the journal, record the model's identity; returns (journal, model hash)."""
    journal = Journal(options.root, writer_id_from_env(), options.fsync)
    journal.open()
    atexit.register(journal.close)
    kill_hook("load")
    cache = HashCache.load()  # the user-level stat cache the merged cache uses too
    identity = model_identity(model_args, cache)
    cache.save()
    model_hash = identity_hash(identity)
    write_json_atomic(journal.root / f"model-{model_hash}.json", identity)
    log.info(
        "journal: %s (model %s, %d entries on disk)", journal.root, model_hash, len(journal.entries)
    )
    return journal, model_hash
