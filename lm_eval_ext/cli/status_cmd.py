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
    from lm_eval_ext.resume.status import format_status, journal_dirs, journal_status

    print(format_status(args.out))
    incomplete = any(
        st.errored or st.missing
        for root in journal_dirs(args.out)
        for tasks in journal_status(root).values()
        for st in tasks.values()
    )
    return 1 if incomplete else 0
