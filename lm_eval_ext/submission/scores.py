"""Leaderboard scores of a run under a suite: raw, normalised against chance, aggregated.

Per task: the mean of its suite metrics (``metric,filter`` in lm-eval's results), then, with
``random_baseline`` normalisation, ``max(0, (raw - b) / (1 - b)) * 100`` with ``b = 1 / choices``
(``b = 0`` for generative tasks); without normalisation, ``raw * 100``. A benchmark is the
unweighted mean of its tasks (or weighted by each task's scored docs), the overall score the
mean of the benchmarks. lm-eval's own group rows are size-weighted raw means and never
normalised; these are the leaderboard's numbers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from lm_eval_ext.submission.suites import Benchmark, Suite, TaskSpec

CSV_COLUMNS = ("run", "benchmark", "task", "raw", "baseline", "normalized", "n")


@dataclass(frozen=True)
class TaskScore:
    """One task of one run: raw score (0-1), its random baseline, normalised score (0-100)."""

    benchmark: str
    task: str
    raw: float
    baseline: float
    normalized: float
    n: int


@dataclass
class RunScores:
    """A run's task, benchmark and overall scores (None where a task is missing)."""

    run: str
    tasks: list[TaskScore] = field(default_factory=list)
    benchmarks: dict[str, float | None] = field(default_factory=dict)
    overall: float | None = None


def normalize(raw: float, baseline: float, normalization: str) -> float:
    """A raw score (0-1) on the leaderboard's 0-100 scale."""
    if normalization == "none":
        return raw * 100
    return max(0.0, (raw - baseline) / (1 - baseline)) * 100


def task_raw(results: dict[str, Any], spec: TaskSpec) -> float | None:
    """The mean of the task's suite metrics in lm-eval's results, or None if any is absent."""
    row = (results.get("results") or {}).get(spec.name)
    if row is None:
        return None
    values = [row.get(f"{metric},{spec.filter}") for metric in spec.metrics]
    if any(not isinstance(v, (int, float)) for v in values):
        return None
    return sum(values) / len(values)


def scored_docs(results: dict[str, Any], task: str) -> int:
    """The number of docs lm-eval scored for ``task`` (``n-samples`` effective)."""
    counts = (results.get("n-samples") or {}).get(task) or {}
    return int(counts.get("effective", counts.get("original", 0)) or 0)


def _benchmark_score(bench: Benchmark, scores: list[TaskScore]) -> float | None:
    if len(scores) != len(bench.tasks):
        return None
    if bench.aggregate == "weighted":
        total = sum(s.n for s in scores)
        return sum(s.normalized * s.n for s in scores) / total if total else None
    return sum(s.normalized for s in scores) / len(scores)


def score_run(run: str, results: dict[str, Any], suite: Suite) -> RunScores:
    """Every suite score of one run's results."""
    out = RunScores(run)
    for bench in suite.benchmarks:
        scores = []
        for spec in bench.tasks:
            raw = task_raw(results, spec)
            if raw is not None:
                scores.append(
                    TaskScore(
                        bench.name,
                        spec.name,
                        raw,
                        spec.baseline,
                        normalize(raw, spec.baseline, suite.normalization),
                        scored_docs(results, spec.name),
                    )
                )
        out.tasks.extend(scores)
        out.benchmarks[bench.name] = _benchmark_score(bench, scores)
    values = list(out.benchmarks.values())
    if values and all(v is not None for v in values):
        out.overall = sum(values) / len(values)
    return out


def _rows(runs: list[RunScores]) -> list[tuple]:
    rows: list[tuple] = []
    for run in runs:
        rows += [
            (run.run, t.benchmark, t.task, t.raw, t.baseline, t.normalized, t.n) for t in run.tasks
        ]
        rows += [
            (run.run, name, "", None, None, value, None) for name, value in run.benchmarks.items()
        ]
        rows.append((run.run, "overall", "", None, None, run.overall, None))
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def scores_csv(runs: list[RunScores]) -> str:
    """``scores.csv``: one row per task, benchmark and run overall (blank where undefined)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([[_cell(v) for v in row] for row in _rows(runs)])
    return buffer.getvalue()


def scores_markdown(runs: list[RunScores], suite: Suite) -> str:
    """``scores.md``: per run, the benchmark and overall scores, then every task."""
    from pytablewriter import MarkdownTableWriter

    parts = [
        f"# {suite.name}: scores\n",
        f"{suite.description}\n",
        f"Normalisation: {suite.normalization} (source: {suite.source})\n",
    ]
    summary = MarkdownTableWriter(
        headers=["run", *[b.name for b in suite.benchmarks], "overall"],
        value_matrix=[
            [r.run, *[_fixed(v) for v in r.benchmarks.values()], _fixed(r.overall)] for r in runs
        ],
        margin=1,
    )
    parts.append(summary.dumps())
    detail = MarkdownTableWriter(
        headers=["run", "benchmark", "task", "raw", "baseline", "normalized", "n"],
        value_matrix=[
            [
                r.run,
                t.benchmark,
                t.task,
                f"{t.raw:.4f}",
                f"{t.baseline:.4f}",
                f"{t.normalized:.2f}",
                t.n,
            ]
            for r in runs
            for t in r.tasks
        ],
        margin=1,
    )
    parts.append(detail.dumps())
    return "\n".join(parts)


def _fixed(value: float | None) -> str:
    return "missing" if value is None else f"{value:.2f}"


def read_scores_csv(text: str) -> dict[tuple[str, str, str], float | None]:
    """``(run, benchmark, task) -> normalized`` from a ``scores.csv``."""
    reader = csv.DictReader(io.StringIO(text))
    return {
        (r["run"], r["benchmark"], r["task"]): (float(r["normalized"]) if r["normalized"] else None)
        for r in reader
    }
