"""MMBench's circular evaluation: one doc per rotation of a question's options, all must be right.

MMBench's own files (``MMBench_DEV_EN.tsv``, the hub dataset ``lmms-lab/MMBench``) already carry
the rotated copies of each question: a copy's ``index`` is the question's ``index`` plus
``k * 1_000_000`` for rotation ``k``. Questions that come without copies get their rotations
generated here (rotation ``k`` presents options ``k, k+1, ...`` first, as MGM's own MMBench
script does). A question counts as correct only if every rotation is answered correctly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

LETTERS = "ABCD"
COPY_STRIDE = 1_000_000


def is_missing(value: Any) -> bool:
    """MMBench's empty cells: None, NaN, or the strings ``nan`` / ``none``."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "nan", "none")


def options_of(row: dict[str, Any]) -> list[str]:
    """The row's options in order, up to the first empty one."""
    options = []
    for letter in LETTERS:
        if letter not in row or is_missing(row[letter]):
            break
        options.append(str(row[letter]))
    return options


def _doc(
    row: dict[str, Any], question_id: int, rotation: int, options: list[str], answer: int
) -> dict:
    return {
        "index": int(row["index"]),
        "question_id": question_id,
        "rotation": rotation,
        "question": str(row["question"]),
        "hint": None if is_missing(row.get("hint")) else str(row["hint"]),
        "options": options,
        "answer": LETTERS[answer],
        "category": str(row.get("category") or ""),
        "l2_category": str(row.get("L2-category") or row.get("l2-category") or ""),
        "image": row.get("image"),
    }


def circular_docs(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One doc per (question, rotation), rotations of a question adjacent, in question order."""
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[int(row["index"]) % COPY_STRIDE].append(row)
    docs = []
    for question_id in sorted(groups):
        given = sorted(groups[question_id], key=lambda r: int(r["index"]))
        if len(given) > 1:
            for row in given:
                options = options_of(row)
                rotation = int(row["index"]) // COPY_STRIDE
                docs.append(_doc(row, question_id, rotation, options, LETTERS.index(row["answer"])))
            continue
        base = given[0]
        options = options_of(base)
        answer = LETTERS.index(base["answer"])
        for k in range(len(options)):
            rotated = options[k:] + options[:k]
            docs.append(_doc(base, question_id, k, rotated, (answer - k) % len(options)))
    return docs


def circular_accuracy(items: Iterable[tuple[int, bool] | list]) -> float:
    """Share of questions whose every rotation is correct; items are ``(question_id, correct)``."""
    verdict: dict[int, bool] = {}
    for question_id, correct in items:
        verdict[int(question_id)] = verdict.get(int(question_id), True) and bool(correct)
    return sum(verdict.values()) / len(verdict) if verdict else float("nan")
