"""Normalised multiple-choice accuracies: per token, per byte, and PMI.

All three pick ``argmax_i score_i`` over the choices and score 1.0 when the pick is
gold (any of the golds for multi-target tasks), like lm-eval's ``acc``/``acc_norm``:

* ``acc_norm_token``: ``score_i = ll_i / T_i`` with ``T_i`` the number of tokens the model
  scored for the continuation (target delimiter included; see ``token_counts``).
* ``acc_norm_byte``: ``score_i = ll_i / B_i`` with ``B_i`` the UTF-8 bytes of the choice
  text *without* the target delimiter: the divisor of lm-eval's ``acc_bytes``.
* ``acc_pmi``: ``score_i = ll_i - ll_uncond_i``, ``ll_uncond_i`` being the log-prob of the
  same continuation after the unconditional prompt.

Ties go to the lowest index (``numpy.argmax``), as in lm-eval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "METRIC_NAMES",
    "is_correct",
    "normalized_mc_metrics",
    "register_normalized_metrics",
]

METRIC_NAMES = ("acc_norm_token", "acc_norm_byte", "acc_pmi")


def is_correct(scores: Sequence[float], gold: int | Sequence[int]) -> float:
    """1.0 if ``argmax(scores)`` is the gold index (or one of them), else 0.0."""
    pred = int(np.argmax(np.asarray(scores, dtype=float)))
    golds = [gold] if isinstance(gold, int | np.integer) else list(gold)
    return 1.0 if pred in golds else 0.0


def normalized_mc_metrics(
    lls: Sequence[float],
    gold: int | Sequence[int],
    *,
    n_tokens: Sequence[int] | None = None,
    n_bytes: Sequence[int] | None = None,
    lls_unconditional: Sequence[float] | None = None,
) -> dict[str, float]:
    """Compute whichever of our metrics has its inputs.

    Args:
        lls: conditional log-likelihood of each choice.
        gold: gold index, or list of gold indices.
        n_tokens: continuation token count per choice (for ``acc_norm_token``).
        n_bytes: UTF-8 byte count per choice (for ``acc_norm_byte``).
        lls_unconditional: log-likelihood of each choice after the unconditional prompt.

    Returns:
        ``{metric_name: 0.0 or 1.0}`` for the metrics whose inputs were given.
    """
    lls_arr = np.asarray(lls, dtype=float)
    out: dict[str, float] = {}
    if n_tokens is not None:
        out["acc_norm_token"] = is_correct(lls_arr / _positive(n_tokens, "n_tokens"), gold)
    if n_bytes is not None:
        out["acc_norm_byte"] = is_correct(lls_arr / _positive(n_bytes, "n_bytes"), gold)
    if lls_unconditional is not None:
        out["acc_pmi"] = is_correct(lls_arr - np.asarray(lls_unconditional, dtype=float), gold)
    return out


def _positive(counts: Sequence[int], name: str) -> np.ndarray:
    arr = np.asarray(counts, dtype=float)
    if (arr <= 0).any():
        # lm-eval would divide by zero and silently produce nan/inf scores.
        raise ValueError(f"{name} must be positive for every choice, got {list(counts)}")
    return arr


def _passthrough(items: list) -> list:
    return items


def register_normalized_metrics() -> None:
    """Register our metric names with lm-eval (idempotent), aggregated by mean.

    lm-eval's own metrics are imported first: its registry lazily imports them only
    while it is empty, so registering ours first would hide ``acc`` and friends.
    """
    import lm_eval.api.metrics  # noqa: F401
    from lm_eval.api.registry import metric_registry, register_metric

    for name in METRIC_NAMES:
        if name not in metric_registry:
            register_metric(
                metric=name,
                higher_is_better=True,
                output_type="multiple_choice",
                aggregation="mean",
            )(_passthrough)
