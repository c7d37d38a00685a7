"""``lm-eval-ext report``: every output of a report, from results folders to one directory.

Writes ``results_long.csv`` (+ ``.parquet``), ``report.md`` (pivot tables, paired
comparisons, missing cells), ``curves_<family>.png``, ``comparisons.csv`` and the
self-contained ``report.html``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from lm_eval_ext.errors import ReportError
from lm_eval_ext.report.collect import (
    ResultsEntry,
    entries_by_task,
    expected_cells,
    find_entries,
    long_table,
    read_samples,
)
from lm_eval_ext.report.curves import chance_level, plot_curves
from lm_eval_ext.report.html import write_html
from lm_eval_ext.report.paired import PairedResult, compare_checkpoints
from lm_eval_ext.report.tables import (
    comparison_frame,
    markdown_table,
    missing_cells,
    pivot_tables,
    write_long_table,
)

__all__ = ["Comparison", "Report", "build_report", "resolve_checkpoint"]


@dataclass
class Comparison:
    """Run A vs run B: their ``run@checkpoint`` labels and the per-metric statistics."""

    a: str
    b: str
    results: list[PairedResult]


@dataclass
class Report:
    """What a report found and where it wrote it."""

    out_dir: Path
    table: pd.DataFrame
    missing: pd.DataFrame
    comparisons: list[Comparison]
    chance: dict[str, float | None]
    files: list[Path] = field(default_factory=list)


def resolve_checkpoint(spec: str, df: pd.DataFrame) -> tuple[str, str]:
    """``RUN@CHECKPOINT``, ``RUN@last``, ``RUN@best`` or ``RUN`` (= last) -> (run, checkpoint).

    ``last`` is the highest step (else the last checkpoint in name order); ``best`` has the
    highest mean over tasks of the run's first metric.
    """
    run, _, checkpoint = spec.partition("@")
    part = df[df["run"] == run]
    if part.empty:
        raise ReportError(
            f"--compare {spec}: no run {run!r} (runs: {', '.join(df['run'].unique())})"
        )
    checkpoints = list(dict.fromkeys(part["checkpoint"]))
    if checkpoint in ("", "last"):
        return run, checkpoints[-1]
    if checkpoint == "best":
        first = part[part["metric"] == part["metric"].iloc[0]]
        return run, str(first.groupby("checkpoint")["value"].mean().idxmax())
    if checkpoint not in checkpoints:
        raise ReportError(
            f"--compare {spec}: {run} has no {checkpoint!r} ({', '.join(checkpoints)})"
        )
    return run, checkpoint


def _chances(entries: list[ResultsEntry]) -> dict[str, float | None]:
    chance: dict[str, float | None] = {}
    for entry in entries:
        for task, config in entry.results.get("configs", {}).items():
            if task in chance:
                continue
            try:
                samples = read_samples(entry, task)
            except ReportError:
                samples = None
            chance[task] = chance_level(config, samples)
    return chance


def _compare(entries, df, pairs, options) -> list[Comparison]:
    comparisons = []
    for spec_a, spec_b in pairs:
        (run_a, ck_a), (run_b, ck_b) = (
            resolve_checkpoint(spec_a, df),
            resolve_checkpoint(spec_b, df),
        )
        a, b = entries_by_task(entries, run_a, ck_a), entries_by_task(entries, run_b, ck_b)
        if not set(a) & set(b):
            raise ReportError(f"--compare {spec_a} {spec_b}: no task in common")
        results = compare_checkpoints(a, b, **options)
        comparisons.append(Comparison(f"{run_a}@{ck_a}", f"{run_b}@{ck_b}", results))
    return comparisons


def _markdown(report: Report, pivots: dict, curves: list[Path], inputs: list[Path]) -> str:
    lines = ["# Evaluation report", "", "Inputs: " + ", ".join(f"`{p}`" for p in inputs), ""]
    for run, table in pivots.items():
        lines += [f"## {run}", "", markdown_table(table), ""]
    for comp in report.comparisons:
        lines += [
            f"## Paired comparison: {comp.a} vs {comp.b}",
            "",
            markdown_table(comparison_frame(comp.a, comp.b, comp.results)),
            "",
        ]
    lines += ["## Missing cells", "", markdown_table(report.missing), "", "## Learning curves", ""]
    lines += [f"![{p.stem}]({p.name})" for p in curves]
    return "\n".join(lines) + "\n"


def build_report(
    inputs: list[Path],
    out_dir: Path,
    *,
    compare: list[tuple[str, str]] = (),
    axis: str = "step",
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
) -> Report:
    """Read every results file under ``inputs`` and write the report into ``out_dir``."""
    inputs = [Path(p) for p in inputs]
    entries = find_entries(inputs)
    df = long_table(entries)
    if df.empty:
        raise ReportError(f"{', '.join(map(str, inputs))}: no metric found in any results file")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    steps = tqdm(total=4, desc="report", unit="step", disable=None)
    report = Report(
        out_dir,
        df,
        missing_cells(df, expected_cells(inputs)),
        _compare(entries, df, compare, options),
        _chances(entries),
    )
    steps.update()
    report.files += write_long_table(df, out_dir)
    pivots = pivot_tables(df)
    steps.update()
    curves = plot_curves(df, report.chance, out_dir, axis)
    steps.update()
    frames = [comparison_frame(c.a, c.b, c.results) for c in report.comparisons]
    if frames:
        report.files.append(out_dir / "comparisons.csv")
        pd.concat(frames).to_csv(report.files[-1], index=False)
    markdown = out_dir / "report.md"
    markdown.write_text(_markdown(report, pivots, curves, inputs), encoding="utf-8")
    sections = [(f"Run {run}", [t]) for run, t in pivots.items()]
    sections += [
        (f"Paired comparison: {c.a} vs {c.b}", [f])
        for c, f in zip(report.comparisons, frames, strict=True)
    ]
    sections += [("Missing cells", [report.missing]), ("Learning curves", list(curves))]
    html_path = write_html(out_dir / "report.html", "Evaluation report", sections)
    steps.update()
    steps.close()
    report.files += [markdown, html_path, *curves]
    return report
