"""Multiple-choice accuracy computed by hand from a samples file (an independent check)."""

from __future__ import annotations

import numpy as np


def acc_by_hand(rows: list[dict], skip: set[int] = frozenset()) -> float:
    """``acc`` of a multiple-choice samples file from its stored loglikelihoods, minus ``skip``."""
    hits = [
        float(np.argmax([float(r[0]) for r in row["filtered_resps"]]) == int(row["target"]))
        for row in rows
        if row["doc_id"] not in skip
    ]
    return sum(hits) / len(hits)
