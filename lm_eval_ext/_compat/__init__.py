"""The only place that touches lm-eval's and transformers' internals.

Each module fences one upstream area and lists its :class:`Seam` entries: what we rely on, the
versions it was checked on, and a model-free check of its shape. ``tests/test_seams.py`` runs
every check, so an upgrade that moves one fails there, by name, instead of deep inside an
end-to-end run. When a check fails: read the upstream change, adapt the one function here, and
update ``CHECKED_ON``.
"""

from __future__ import annotations

from lm_eval_ext._compat._seam import CHECKED_ON, Seam


def all_seams() -> list[Seam]:
    """Every seam of every fenced upstream area."""
    from lm_eval_ext._compat import (
        lm_eval_api,
        lm_eval_creation,
        lm_eval_models,
        lm_eval_outputs,
        lm_eval_tasks,
        transformers_cache,
        transformers_mgm,
        transformers_processors,
    )

    return [
        seam
        for module in (
            lm_eval_outputs,
            lm_eval_tasks,
            lm_eval_models,
            lm_eval_creation,
            lm_eval_api,
            transformers_cache,
            transformers_mgm,
            transformers_processors,
        )
        for seam in module.SEAMS
    ]


__all__ = ["CHECKED_ON", "Seam", "all_seams"]
