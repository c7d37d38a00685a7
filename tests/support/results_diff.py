"""Field-by-field comparison of two lm-eval results files (or any JSON values)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

#: lm-eval writes some task hooks as ``repr(function)``, memory address included, so two
#: identical runs differ there; compare them without the address.
_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


def json_differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths (``/key/key``) where ``a`` and ``b`` differ; a key present on one side only counts."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                out.append(f"{path}/{key}")
            else:
                out.extend(json_differences(a[key], b[key], f"{path}/{key}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in json_differences(x, y, f"{path}/{i}")
        ]
    if isinstance(a, str) and isinstance(b, str):
        a, b = _ADDRESS.sub(">", a), _ADDRESS.sub(">", b)
    return [] if a == b else [path]


#: Fields of two runs' results files that differ whenever the runs are not the same process at
#: the same moment (dates, timings), whatever they computed.
RUN_MOMENT_FIELDS = frozenset(
    {"/date", "/start_time", "/end_time", "/total_evaluation_time_seconds"}
)


def output_differences(a: Path, b: Path) -> set[str]:
    """Where two ``--output_path`` folders' results and samples files differ (field paths).

    Each folder must hold one results file; samples files are compared row by row, per task
    (``/samples/<task>/<row>/<field>``); :data:`RUN_MOMENT_FIELDS` are left out.
    """
    from tests.support.lm_eval_runs import read_results, read_samples

    results_a, results_b = read_results(a), read_results(b)
    found = set(json_differences(results_a, results_b)) - RUN_MOMENT_FIELDS
    for task in sorted(set(results_a["configs"]) | set(results_b["configs"])):
        found.update(
            f"/samples/{task}{d}"
            for d in json_differences(read_samples(a, task), read_samples(b, task))
        )
    return found
