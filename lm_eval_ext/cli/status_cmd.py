"""``lm-eval-ext status OUT``: done / errored / missing docs per task of a journaled run."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``status`` subcommand."""
    p = subparsers.add_parser(
        "status", help="progress of a resumable run (journal=DIR) without loading any model"
    )
    p.add_argument("out", type=Path, help="the run's --output_path (journals are found under it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the status table; exit 1 when some docs errored or are missing."""
    from lm_eval_ext.resume import format_status, run_incomplete

    print(format_status(args.out))
    return 1 if run_incomplete(args.out) else 0
