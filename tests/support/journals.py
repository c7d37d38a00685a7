"""Reading journals back in tests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lm_eval_ext.resume.storage.records import ResponseRecord, scan_file


def journaled_key_counts(journal: Path) -> Counter:
    """How often each request key was journaled (across all files, valid lines only)."""
    return Counter(
        r.key
        for p in Path(journal).glob("*.jsonl")
        for r in scan_file(p).records
        if isinstance(r, ResponseRecord)
    )
