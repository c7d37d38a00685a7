"""Short-answer QA metrics: exact match, token F1 and ROUGE-L after normalisation.

Normalisation (SQuAD's, plus consistent numbers): lower-case; split into tokens; a token that
is a number (thousands separators, ``%``, currency signs and surrounding brackets ignored) is
rounded to ``decimals`` places and written without trailing zeros (``"1,234.50"`` ->
``"1234.5"``, ``"3.14159"`` -> ``"3.14"``); other tokens lose their punctuation; the articles
``a``/``an``/``the`` are dropped.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from functools import lru_cache

__all__ = ["exact_match", "normalize_answer", "rouge_l", "score_answer", "slug", "token_f1"]

_ARTICLES = frozenset({"a", "an", "the"})
_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’–—")
_NUMBER = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?$")
_NUM_WRAP = "()[]$€£¥%\"'"


def _number(token: str, decimals: int) -> str | None:
    core = token.strip(_NUM_WRAP).rstrip(".,;:!?").strip(_NUM_WRAP)
    if not any(ch.isdigit() for ch in core) or not _NUMBER.match(core):
        return None
    value = round(float(core.replace(",", "")), decimals)
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".") if decimals > 0 else f"{value:.0f}"
    return "0" if text in {"-0", ""} else text


def normalize_answer(text: str, decimals: int = 2) -> str:
    """Normalise an answer string (see the module docstring)."""
    out = []
    for raw in str(text).lower().split():
        number = _number(raw, decimals)
        if number is not None:
            out.append(number)
            continue
        for token in raw.translate(_PUNCT).split():
            if token not in _ARTICLES:
                out.append(token)
    return " ".join(out)


def exact_match(prediction: str, reference: str) -> float:
    """1.0 if the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 over normalised tokens (both empty -> 1.0)."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (Google's ``rouge_score``) over the normalised strings."""
    pred, ref = normalize_answer(prediction), normalize_answer(reference)
    if not pred or not ref:
        return float(pred == ref)
    return _rouge_scorer().score(ref, pred)["rougeL"].fmeasure


def slug(name: str) -> str:
    """Metric-name suffix for a question type: ``"Fact Checking"`` -> ``"fact_checking"``."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_") or "unknown"


def score_answer(prediction: str, reference: str) -> dict[str, float]:
    """``{"em", "f1", "rouge_l"}`` for one prediction."""
    return {
        "em": exact_match(prediction, reference),
        "f1": token_f1(prediction, reference),
        "rouge_l": rouge_l(prediction, reference),
    }
