"""Data of the demo tasks: the held-out splits of ``lm_eval_ext.demo.learning_task``.

Generated in code (deterministic), so the tasks need no data files and no network.
"""

from __future__ import annotations

from typing import Any

import datasets

from lm_eval_ext.demo.learning_task import heldout_docs, train_docs


def _splits(vocabulary: str) -> datasets.DatasetDict:
    return datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(train_docs(vocabulary, 200)),
            "test": datasets.Dataset.from_list(heldout_docs(vocabulary)),
        }
    )


def load_seen(**_metadata: Any) -> datasets.DatasetDict:
    """Held-out sentences with the keywords the demo run was trained on (train: few-shot)."""
    return _splits("seen")


def load_new(**_metadata: Any) -> datasets.DatasetDict:
    """Held-out sentences with the keywords only the LoRA fine-tune saw."""
    return _splits("new")
