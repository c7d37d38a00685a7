"""Normalised multiple-choice metrics and tasks.

* ``NormalizedMCTask`` (``mc_task``): task class adding ``acc_norm_token``,
  ``acc_norm_byte`` and ``acc_pmi`` next to lm-eval's own ``acc``/``acc_norm``.
* ``normalized_mc_metrics`` (``metrics``): the pure metric computation.

Context-once loglikelihood scoring is a model concern: ``lm_eval_ext.models.context_once``.

Attributes are imported lazily, so importing this package loads neither torch nor lm-eval.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "NormalizedMCTask",
    "continuation_token_counts",
    "normalized_mc_metrics",
    "register_normalized_metrics",
]

_WHERE = {
    "NormalizedMCTask": "lm_eval_ext.scoring.mc_task",
    "continuation_token_counts": "lm_eval_ext.scoring.token_counts",
    "normalized_mc_metrics": "lm_eval_ext.scoring.metrics",
    "register_normalized_metrics": "lm_eval_ext.scoring.metrics",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
