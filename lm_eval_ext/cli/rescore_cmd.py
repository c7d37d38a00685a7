"""``lm-eval-ext rescore OUT``: recompute a run's metrics from its samples files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lm_eval_ext.cli._args import add_include_path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``rescore`` subcommand."""
    p = subparsers.add_parser(
        "rescore",
        help="recompute metrics from a run's --log_samples output (no model loaded)",
        description="Replay the responses recorded in a run's samples files through lm-eval "
        "(current task definitions: added or changed metrics apply) and write a new results "
        "JSON plus samples next to the old ones. Docs without a real answer (errored or not "
        "computed according to the run's journal) are excluded from every metric and counted.",
    )
    p.add_argument(
        "out",
        type=Path,
        help="the run's --output_path, or one results_*.json (default: the newest)",
    )
    add_include_path(p)
    p.add_argument(
        "--in_place",
        action="store_true",
        help="overwrite the run's results and samples files instead of adding new ones",
    )
    p.add_argument(
        "--no_journal",
        action="store_true",
        help="do not consult the run's journal (count every recorded response)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Rescore, print lm-eval's table and where the new results are."""
    from lm_eval_ext.resume import (
        latest_results_file,
        rescore_run,
        results_table,
        summary,
        write_rescored,
    )

    path = latest_results_file(args.out)
    run_output, redone = rescore_run(path, args.include_path, use_journal=not args.no_journal)
    written = write_rescored(run_output, redone, in_place=args.in_place)
    print(results_table(redone.results))
    if redone.excluded:
        print(summary(redone.excluded), file=sys.stderr)
    print(f"rescored {path}\n-> {written}")
    return 0
