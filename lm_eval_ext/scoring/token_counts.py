"""Continuation token counts under the evaluated model's own tokenizer.

The tokenizer is named by the task's ``metadata`` (``tokenizer``, else ``pretrained``,
at the model's ``revision``, with ``trust_remote_code``; see
:mod:`lm_eval_ext.checkpoints.tokenizer`): the lm_eval CLI merges ``--model_args``
into every task's metadata, the same seam lm-eval's RULER tasks read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lm_eval_ext.checkpoints.tokenizer import load_tokenizer, tokenizer_source

__all__ = ["continuation_token_counts", "tokenizer_from_metadata"]


def tokenizer_from_metadata(metadata: Mapping[str, Any] | None) -> Any:
    """Load (once per source) the tokenizer the metadata points at, as ``HFLM`` would.

    Raises:
        ValueError: when the metadata names no tokenizer (e.g. a model object was
            passed in-process without ``metadata={"pretrained": ...}``).
    """
    source = tokenizer_source(metadata or {})
    if source is None:
        raise ValueError(
            "acc_norm_token needs the evaluated model's tokenizer: pass model_args "
            "pretrained=... (or tokenizer=...) on the lm_eval CLI, or "
            "TaskManager(metadata={'pretrained': ...}) in Python"
        )
    return load_tokenizer(source)


def continuation_token_counts(
    tokenizer: Any, pairs: Sequence[tuple[str, str]], prefix_token_id: int | None = None
) -> list[int]:
    """Number of continuation tokens lm-eval's HF model scores for each ``(context, cont)``.

    Mirrors ``TemplateLM.loglikelihood``/``_encode_pair``: trailing spaces of the context
    move to the continuation, ``context + continuation`` is encoded whole, and the
    continuation is what follows the context's own encoding; so a delimiter space that
    merges into the first word costs no token, and one that stays separate counts one.
    Special tokens cancel out of the difference, so they are left out. An empty context
    scores the whole continuation, less its first token if that is the prefix token.
    """
    wholes, contexts, empty = [], [], []
    for context, continuation in pairs:
        n_spaces = len(context) - len(context.rstrip())
        stripped = context[: len(context) - n_spaces]
        wholes.append(context + continuation if context else continuation)
        contexts.append(stripped)
        empty.append(context == "")
    whole_ids = tokenizer(wholes, add_special_tokens=False)["input_ids"]
    ctx_ids = tokenizer(contexts, add_special_tokens=False)["input_ids"]
    counts = []
    for whole, ctx, is_empty in zip(whole_ids, ctx_ids, empty, strict=True):
        if is_empty:
            counts.append(len(whole) - (1 if whole and whole[0] == prefix_token_id else 0))
        else:
            counts.append(len(whole) - len(ctx))
    return counts
