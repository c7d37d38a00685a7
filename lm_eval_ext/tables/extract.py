"""Extract the final answer from what models really emit.

Rules, in order (the first that applies wins):

1. ``<think>...</think>`` reasoning is removed.
2. ``marker``: the last ``[Final Answer]:`` / ``Final Answer:`` (any case, optional brackets,
   markdown bold/italics/heading around it). The answer is the first non-empty line after it;
   a same-line trailing explanation (`` - because ...``, ``Explanation: ...``) is cut.
   If that text is JSON(-ish), rule 3 is applied to it.
3. ``json``: a JSON or JSON5 object (code fences allowed) with a key like ``final_answer`` /
   ``answer``; lists are joined with ``", "``.
4. ``answer_phrase``: the last ``Answer: ...`` / ``the answer is ...``.
5. ``last_line``: the last non-empty line. Counted as an extraction failure.

Markdown emphasis, backticks, surrounding quotes and a final period are stripped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Extraction", "extract_answer"]

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_MARKER = re.compile(
    r"(?:[*_#]+\s*)?\[?\s*final[\s_]*answer\s*\]?\s*(?:[*_]+\s*)?[:：]\s*(?:[*_]+)?", re.I
)
_PHRASE = re.compile(r"(?:\banswer\s*[:：]|\bthe\s+answer\s+is\b)\s*", re.I)
_EXPLANATION = re.compile(
    r"\s+(?:[-–—]\s+|\()?(?:because|since|explanation|reasoning|reason|note)\b.*$", re.I
)
_JSON_KEYS = ("final_answer", "finalanswer", "answer", "final", "result")


@dataclass(frozen=True)
class Extraction:
    """The extracted answer, how it was found, and whether extraction failed."""

    answer: str
    method: str
    failed: bool


def extract_answer(text: str) -> Extraction:
    """Apply the documented rules to a model response."""
    text = _THINK.sub("", text or "")
    if "</think>" in text.lower():  # an unclosed think block: keep only what follows it
        text = re.split(r"</think>", text, flags=re.I)[-1]
    marks = list(_MARKER.finditer(text))
    if marks:
        tail = text[marks[-1].end() :]
        parsed = _from_json(tail)
        if parsed is not None:
            return Extraction(parsed, "marker", False)
        return Extraction(_clean(_first_line(tail)), "marker", False)
    parsed = _from_json(text)
    if parsed is not None:
        return Extraction(parsed, "json", False)
    phrases = list(_PHRASE.finditer(text))
    if phrases:
        return Extraction(_clean(_first_line(text[phrases[-1].end() :])), "answer_phrase", False)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines:
        return Extraction(_clean(lines[-1]), "last_line", True)
    return Extraction("", "empty", True)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def _clean(answer: str) -> str:
    answer = _EXPLANATION.sub("", answer.strip())
    answer = answer.strip().strip("*_`").strip()
    if len(answer) >= 2 and answer[0] == answer[-1] and answer[0] in "\"'":
        answer = answer[1:-1]
    return answer.rstrip(".").strip()


def _from_json(text: str) -> str | None:
    """The answer from the last parseable ``{...}`` object in ``text``, if any."""
    import json5

    end = text.rfind("}")
    while end != -1:
        start = text.rfind("{", 0, end)
        while start != -1:
            try:
                obj = json5.loads(text[start : end + 1])
            except ValueError:
                start = text.rfind("{", 0, start)
                continue
            value = _json_answer(obj) if isinstance(obj, dict) else None
            if value is not None:
                return value
            break
        end = text.rfind("}", 0, end)
    return None


def _json_answer(obj: dict) -> str | None:
    normalised = {re.sub(r"[\s_\-\[\]]", "", str(k)).lower(): v for k, v in obj.items()}
    for key in _JSON_KEYS:
        value = normalised.get(key.replace("_", ""))
        if value is None:
            continue
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return _clean(str(value))
    return None
