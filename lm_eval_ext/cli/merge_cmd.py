"""``lm-eval-ext merge SHARD_OUT... -o OUT``: one run's output from shard runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lm_eval_ext.cli._args import add_include_path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``merge`` subcommand."""
    p = subparsers.add_parser(
        "merge",
        help="merge the outputs of journal_shard=K/N runs into one results JSON + samples",
        description="Each shard ran the same lm_eval command with journal_shard=K/N (and its "
        "own journal=DIR / --output_path). Their journals are copied into OUT/journal and the "
        "evaluation is replayed through lm-eval from them (no model loaded): the results and "
        "samples equal those of one journaled run with the same journal_chunk.",
    )
    p.add_argument("shards", type=Path, nargs="+", help="the shards' --output_path directories")
    p.add_argument(
        "-o",
        "--output_path",
        type=Path,
        required=True,
        help="where to write the merged journal, results and samples",
    )
    p.add_argument(
        "--complete",
        action="store_true",
        help="write no results unless every shard is given and every doc has an answer "
        "(exit 2 naming what is missing); by default missing docs are excluded and reported",
    )
    add_include_path(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Merge; exit 1 when shards are missing or docs have no answer, else 0."""
    from lm_eval_ext.resume import merge_shards, results_table, summary

    path, redone, missing = merge_shards(
        args.shards, args.output_path, args.include_path, complete=args.complete
    )
    print(results_table(redone.results))
    if missing:
        print(f"missing shard(s): {missing}", file=sys.stderr)
    if redone.excluded:
        print(summary(redone.excluded), file=sys.stderr)
    print(f"merged {len(args.shards)} shard(s) ({redone.answered} responses) -> {path}")
    return 1 if missing or redone.excluded else 0
