"""Token counting with the evaluated model's tokenizer, and the prompt budget.

The tokenizer and config come from :mod:`lm_eval_ext.checkpoints.tokenizer` (``load_tokenizer``
is re-exported here), so budgets honour the model's ``revision`` like ``HFLM`` does.

Counts are made the way lm-eval's ``HFLM`` encodes a generation context: the tokenizer's default
special tokens, and, when a chat template is applied, the rendered template with the generation
prompt. Long texts are counted as batches of short pieces (fast tokenizers are slow on one huge
string); only final prompts are counted exactly in one piece.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lm_eval_ext.checkpoints.tokenizer import load_model_config, load_tokenizer
from lm_eval_ext.errors import LmEvalExtError

__all__ = [
    "PromptCounter",
    "count_pieces",
    "estimate_tokens",
    "load_tokenizer",
    "resolve_budget",
]

log = logging.getLogger(__name__)

_EXACT_CHARS = 200_000
_PIECE_CHARS = 4_000


def resolve_budget(metadata: Mapping[str, Any], tokenizer: Any, max_gen_toks: int) -> int:
    """``max_input_tokens`` if given, else the model's max length minus generation length.

    The max length comes from ``max_length`` in the metadata (a model arg) or, like lm-eval's
    ``HFLM``, from the model config at the model's ``revision`` (``resolve_max_length``).
    ``reserve_tokens`` is subtracted (e.g. the image tokens of a vision-language model).
    """
    reserve = int(metadata.get("reserve_tokens") or 0)
    if metadata.get("max_input_tokens"):
        return int(metadata["max_input_tokens"]) - reserve
    max_length = metadata.get("max_length")
    if not max_length:
        from lm_eval.models.utils import resolve_max_length

        try:
            config = load_model_config(metadata)
        except LmEvalExtError as err:
            log.warning(
                "html_table_qa: no model config (%s); using the tokenizer's max length", err
            )
            config = None
        max_length = resolve_max_length(config, tokenizer)
    budget = int(max_length) - int(max_gen_toks) - reserve
    if budget <= 0:
        raise ValueError(
            f"html_table_qa: max length {max_length} leaves no room for {max_gen_toks} generated"
            f" tokens (+{reserve} reserved); lower max_gen_toks or set max_input_tokens."
        )
    return budget


@dataclass(frozen=True)
class PromptCounter:
    """Exact prompt token counts as the model will see them."""

    tokenizer: Any
    chat: bool = False

    def count(self, prompt: str) -> int:
        """Number of tokens of ``prompt`` (chat template applied when ``chat``)."""
        text = prompt
        if self.chat:
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        return len(self.tokenizer(text)["input_ids"])

    @property
    def key(self) -> str:
        """Identifies the tokenizer for caches keyed on token counts."""
        tok = self.tokenizer
        return f"{type(tok).__name__}:{getattr(tok, 'name_or_path', '')}:{len(tok)}"


def count_pieces(tokenizer: Any, pieces: list[str]) -> list[int]:
    """Token counts of many short strings in one batch call (no special tokens)."""
    if not pieces:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)  # the Rust tokenizer of fast ones
    if backend is not None:
        encode = getattr(backend, "encode_batch_fast", None) or backend.encode_batch
        return [len(enc) for enc in encode(pieces, add_special_tokens=False)]
    return [len(x) for x in tokenizer(pieces, add_special_tokens=False)["input_ids"]]


def _split_pieces(text: str) -> list[str]:
    pieces = []
    for line in text.splitlines(keepends=True):
        if len(line) <= _PIECE_CHARS:
            pieces.append(line)
        else:
            pieces.extend(line[i : i + _PIECE_CHARS] for i in range(0, len(line), _PIECE_CHARS))
    return pieces


def estimate_tokens(tokenizer: Any, text: str) -> tuple[int, bool]:
    """Token count of a possibly huge text: ``(count, estimated)``.

    Up to 200k characters the text is counted piecewise (lines); beyond that an evenly spaced,
    deterministic sample of pieces is counted and scaled by characters (``estimated=True``).
    """
    pieces = _split_pieces(text)
    if len(text) <= _EXACT_CHARS:
        return sum(count_pieces(tokenizer, pieces)), False
    step = max(1, len(text) // _EXACT_CHARS)
    sample = pieces[::step]
    chars = sum(len(p) for p in sample)
    tokens = sum(count_pieces(tokenizer, sample))
    return round(tokens * len(text) / max(chars, 1)), True
