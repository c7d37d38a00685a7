"""Excluding docs without a real answer from lm-eval's metrics, loudly.

lm-eval scores every doc it iterates; a doc whose request failed (or was never computed) got a
placeholder response and would count as a wrong answer. :func:`exclude_docs` re-aggregates the
per-doc metric values of the other docs with lm-eval's own aggregation (task aggregation
functions, stderr, size-weighted groups), marks the excluded samples, and records the counts in
``n-samples`` (``errored``) and under ``lm_eval_ext`` in the results.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from lm_eval_ext.resume.storage.outputs import ERROR_FIELD

log = logging.getLogger(__name__)


def exclude_docs(
    results: dict[str, Any],
    loaded: dict[str, Any],
    excluded: dict[str, dict[int, str]],
    bootstrap_iters: int | None,
) -> dict:
    """``results`` (from ``evaluate``, with ``samples``) without the ``excluded`` docs' scores."""
    excluded = {task: docs for task, docs in excluded.items() if docs}
    if not excluded:
        return results  # untouched: byte-for-byte what lm-eval computed
    from lm_eval_ext._compat.lm_eval_outputs import reaggregate

    counts = {task: len(excluded.get(task, {})) for task in results["configs"]}
    acc = {}
    for name, task in loaded["tasks"].items():
        rows = results["samples"][name]
        acc[name] = {
            "task": task,
            "raw_metrics": _raw_metrics(rows, excluded.get(name, {})),
            "logged_samples": rows,
        }
    results = {**results, **reaggregate(acc, loaded["groups"], bootstrap_iters, results["samples"])}
    for task, docs in sorted(excluded.items()):
        log.warning(
            "%d doc(s) of %s have no answer and are EXCLUDED from its metrics (first: doc %s: %s)",
            len(docs),
            task,
            *next(iter(docs.items())),
        )
    for task, n in counts.items():
        results["n-samples"].setdefault(task, {})["errored"] = n
    results["lm_eval_ext"] = {
        "excluded_docs": {
            t: {str(d): why for d, why in sorted(docs.items())}
            for t, docs in sorted(excluded.items())
        },
        "note": "docs listed here errored or were not computed; every metric excludes them",
    }
    return results


def _raw_metrics(rows: list[dict], drop: dict[int, str]) -> dict[tuple[str, str], list]:
    """lm-eval's ``raw_metrics`` rebuilt from samples rows, minus (and marking) dropped docs."""
    raw: dict[tuple[str, str], list] = defaultdict(list)
    for row in rows:
        if row["doc_id"] in drop:
            row[ERROR_FIELD] = drop[row["doc_id"]]
            for metric in row["metrics"]:
                row[metric] = None
            continue
        for metric in row["metrics"]:
            raw[(metric, row["filter"])].append(row[metric])
    return raw
