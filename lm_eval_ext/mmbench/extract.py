"""Rule-based answer extraction for MMBench (no LLM judge), after MMBench's ``can_infer``.

First a letter: the answer's whitespace-separated words contain exactly one of the option
letters, bare or in a common wrapping (``A.``, ``(A)``, ``A)``, ``A:``, ...); a bare ``A`` in an
answer of more than three words is taken for the article, not a letter. Otherwise the option
text: exactly one option's text occurs in the answer (case-insensitive). Otherwise nothing: the
answer counts as wrong.
"""

from __future__ import annotations

#: (prefix, suffix) wrappings of an option letter, tried after the bare letter.
WRAPPINGS = (
    ("", "."),
    ("", ","),
    ("", ":"),
    ("", ")"),
    ("", ")."),
    ("(", ")"),
    ("(", ")."),
    (":", ""),
    (":", ","),
    (":", "."),
    (":", ")"),
    (":", ")."),
)


def _letter(answer: str, letters: str) -> str | None:
    words = [w.strip() for w in answer.split()]
    bare = [c for c in letters if c in words]
    if len(bare) == 1 and not ("A" in words and len(words) > 3):
        return bare[0]
    for prefix, suffix in WRAPPINGS:
        hits = [c for c in letters if prefix + c + suffix in words]
        if len(hits) == 1:
            return hits[0]
    return None


def extract_option(answer: str, options: list[str]) -> str | None:
    """The option letter ``answer`` picks among ``options`` (shown as A, B, ...), or None."""
    letters = "ABCD"[: len(options)]
    found = _letter(answer, letters)
    if found:
        return found
    lowered = answer.lower()
    hits = [letters[i] for i, text in enumerate(options) if text.lower() in lowered]
    return hits[0] if len(hits) == 1 else None
