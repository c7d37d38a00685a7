"""``lm-eval-ext validate submission.zip``: list every reason a leaderboard would reject it."""

from __future__ import annotations

import argparse
from pathlib import Path

from lm_eval_ext.cli._args import add_include_path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``validate`` subcommand."""
    p = subparsers.add_parser(
        "validate",
        help="check a submission zip; one line per defect, non-zero exit if any",
        description="Checks the zip's members (names, links, sizes, compression), the manifest "
        "(hashes, sizes, unlisted members), every run (complete, not --limit, no errored or "
        "duplicated docs, the suite's tasks and n-shot, checkpoints, hub model id and commit "
        "revision), the results (recomputed from the samples with rescore) and scores.csv "
        "(recomputed under the suite). Nothing is extracted outside a temporary directory.",
    )
    p.add_argument("zip", type=Path, help="the submission zip")
    p.add_argument("--suite", help="suite name or YAML (default: the one the manifest names)")
    add_include_path(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate; exit 1 when there is any defect."""
    from lm_eval_ext.submission import load_suite, validate_zip

    suite = load_suite(args.suite) if args.suite else None
    defects = validate_zip(args.zip, suite, args.include_path)
    for defect in defects:
        print(defect)
    print(f"{args.zip}: {len(defects)} defect(s)" if defects else f"{args.zip}: valid")
    return 1 if defects else 0
