"""Token counting with the evaluated model's tokenizer, and the prompt budget.

Counts are made the way lm-eval's ``HFLM`` encodes a generation context: the tokenizer's default
special tokens, and, when a chat template is applied, the rendered template with the generation
prompt. Long texts are counted as batches of short pieces (fast tokenizers are slow on one huge
string); only final prompts are counted exactly in one piece.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "PromptCounter",
    "load_tokenizer",
    "resolve_budget",
    "count_pieces",
    "estimate_tokens",
]

log = logging.getLogger(__name__)

#: metadata keys that can name the tokenizer, in order (the ones lm-eval's ruler tasks use).
TOKENIZER_KEYS = ("tokenizer", "pretrained", "model")
_EXACT_CHARS = 200_000
_PIECE_CHARS = 4_000


@lru_cache(maxsize=4)
def load_tokenizer(name: str, trust_remote_code: bool = False) -> Any:
    """Load (once per process) a Hugging Face tokenizer by name or local path."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)


def tokenizer_name(metadata: dict[str, Any]) -> str | None:
    """The tokenizer name from task metadata (``tokenizer``, else ``pretrained``, else ``model``)."""
    for key in TOKENIZER_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def resolve_budget(metadata: dict[str, Any], tokenizer: Any, max_gen_toks: int) -> int:
    """``max_input_tokens`` if given, else the model's max length minus generation length.

    The max length comes from ``max_length`` in the metadata (a model arg) or, like lm-eval's
    ``HFLM``, from the model config (``resolve_max_length``). ``reserve_tokens`` is subtracted
    (e.g. the image tokens of a vision-language model).
    """
    reserve = int(metadata.get("reserve_tokens") or 0)
    if metadata.get("max_input_tokens"):
        return int(metadata["max_input_tokens"]) - reserve
    max_length = metadata.get("max_length")
    if not max_length:
        from lm_eval.models.utils import resolve_max_length
        from transformers import AutoConfig

        name = metadata.get("pretrained") or tokenizer_name(metadata)
        trust = bool(metadata.get("trust_remote_code", False))
        try:
            config = AutoConfig.from_pretrained(name, trust_remote_code=trust)
        except (OSError, ValueError) as err:
            log.warning("html_table_qa: no model config for %s (%s); using the tokenizer", name, err)
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
