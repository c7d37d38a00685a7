"""The main metric of each task in an lm-eval results file, for one-line cell summaries."""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["format_metrics", "main_metrics"]

_NOT_METRICS = {"alias", "name", "sample_len", "samples"}


def main_metrics(results_path: Path) -> list[dict]:
    """``[{task, metric, filter, value, stderr}]``: per task, the first metric lm-eval reports.

    Groups come first when the file has any (their subtasks are then left out).
    """
    results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    table = results.get("results", {})
    groups = [g for g in results.get("groups", {}) if g in table] or list(table)
    found = []
    for task in groups:
        for key, value in table[task].items():
            metric, _, filt = key.partition(",")
            if metric in _NOT_METRICS or "_stderr" in metric or not _is_number(value):
                continue
            stderr = table[task].get(f"{metric}_stderr,{filt}")
            found.append(
                {
                    "task": task,
                    "metric": metric,
                    "filter": filt or "none",
                    "value": float(value),
                    "stderr": float(stderr) if _is_number(stderr) else None,
                }
            )
            break
    return found


def format_metrics(metrics: list[dict]) -> str:
    """``task metric=0.613±0.034 ...`` (at most three tasks, then a count)."""
    parts = []
    for m in metrics[:3]:
        err = f"±{m['stderr']:.3f}" if m["stderr"] is not None else ""
        parts.append(f"{m['task']} {m['metric']}={m['value']:.3f}{err}")
    if len(metrics) > 3:
        parts.append(f"(+{len(metrics) - 3} tasks)")
    return "  ".join(parts)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
