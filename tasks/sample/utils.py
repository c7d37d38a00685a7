"""Data loading for the bundled sample task (files next to this module, any working dir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets

DATA_FILE = Path(__file__).with_name("sample_mc.jsonl")


def load_sample_mc(**_metadata: Any) -> datasets.DatasetDict:
    """Load ``sample_mc.jsonl`` as the ``test`` split.

    lm-eval calls ``custom_dataset`` with the task metadata (model args included); unused here.
    """
    return datasets.load_dataset("json", data_files={"test": str(DATA_FILE)})
