"""``lm-eval-ext status OUT``: done / errored / missing docs of a run, or the cells of a sweep."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``status`` subcommand."""
    p = subparsers.add_parser(
        "status",
        help="progress of a resumable run (journal=DIR) or of a sweep, without loading any model",
    )
    p.add_argument(
        "out",
        type=Path,
        help="the run's --output_path (journals are found under it), or a sweep's OUT",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the status table; exit 1 when some docs (or cells) errored or are missing."""
    from lm_eval_ext import sweep

    if sweep.is_sweep(args.out):
        print(sweep.format_sweep_status(args.out))
        return 0 if all(s.state == "done" for _, s in sweep.sweep_status(args.out)) else 1

    from lm_eval_ext.resume import format_status, run_incomplete

    print(format_status(args.out))
    return 1 if run_incomplete(args.out) else 0
