"""``lm-eval-ext report OUT... -o DIR``: tables, learning curves and paired comparisons."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report",
        help="tables (CSV/Parquet/Markdown), learning-curve PNGs, paired comparisons and an "
        "HTML page from sweeps or plain lm_eval output folders",
    )
    p.add_argument(
        "inputs",
        type=Path,
        nargs="+",
        help="sweep OUT folders, lm_eval --output_path folders or results_*.json files",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="folder to write the report to")
    p.add_argument(
        "--compare",
        nargs=2,
        action="append",
        default=[],
        metavar=("A", "B"),
        help="paired comparison of two checkpoints, each RUN@CHECKPOINT, RUN@last, "
        "RUN@best or RUN (its last); repeatable",
    )
    p.add_argument("--x", choices=("step", "tokens"), default="step", help="curves' x axis")
    p.add_argument("--confidence", type=float, default=0.95, help="bootstrap confidence level")
    p.add_argument("--resamples", type=int, default=9999, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the report and print where it went and the comparisons."""
    from lm_eval_ext.report import build_report, comparison_frame, markdown_table

    report = build_report(
        args.inputs,
        args.output,
        compare=[tuple(pair) for pair in args.compare],
        axis=args.x,
        confidence=args.confidence,
        n_resamples=args.resamples,
        seed=args.seed,
    )
    runs = report.table["run"].nunique()
    checkpoints = report.table[["run", "checkpoint"]].drop_duplicates().shape[0]
    tasks = report.table["task"].nunique()
    print(
        f"report: {runs} runs, {checkpoints} checkpoints, {tasks} tasks, "
        f"{len(report.missing)} missing cells -> {args.output}"
    )
    for comp in report.comparisons:
        print(f"\n{comp.a} vs {comp.b}:")
        print(markdown_table(comparison_frame(comp.a, comp.b, comp.results)))
    for path in report.files:
        print(f"  {path}")
    return 0
