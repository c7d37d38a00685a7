"""``lm-eval-ext finalize OUT``: exclude a journaled run's unanswered docs from its results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lm_eval_ext.cli._args import add_include_path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``finalize`` subcommand."""
    p = subparsers.add_parser(
        "finalize",
        help="exclude the docs without an answer (errored, or another shard's) from a "
        "journaled run's results, in place",
        description="lm-eval scores every doc, also those whose requests failed or that another "
        "shard computes. This rewrites the run's results and samples files in place: those docs "
        "are excluded from every metric (lm-eval's own per-doc values, re-aggregated with "
        "lm-eval's aggregation), counted in n-samples and listed under lm_eval_ext. A journaled "
        "`lm_eval` run does this by itself at exit; finalizing again changes nothing.",
    )
    p.add_argument(
        "out",
        type=Path,
        help="the run's --output_path, or one results_*.json (default: the newest)",
    )
    add_include_path(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Finalize, print lm-eval's (corrected) table and what was excluded."""
    from lm_eval_ext.resume import (
        finalize_run,
        latest_results_file,
        results_table,
        summary,
        write_finalized,
    )

    path = latest_results_file(args.out)
    run_output, finalized = finalize_run(path, args.include_path)
    if not finalized.excluded:
        print(f"{path}: every doc has an answer; nothing to exclude")
        return 0
    write_finalized(run_output, finalized)
    print(results_table(finalized.results))
    print(summary(finalized.excluded), file=sys.stderr)
    print(
        f"finalized {path}: docs without an answer are excluded from every metric (the table "
        "above is the corrected one)",
        file=sys.stderr,
    )
    return 0
