"""``lm-eval-ext package OUT... -o submission.zip``: runs (or a sweep) as a submission zip."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``package`` subcommand."""
    p = subparsers.add_parser(
        "package",
        help="package runs (or a sweep) into a deterministic submission zip",
        description="Every run under the given output dirs (the newest results file of each "
        "run directory, with its samples) goes into the zip with a manifest.json (model, "
        "revision and commit, dtype, public model args, versions, tasks, member hashes) and, "
        "with --suite, scores.csv / scores.md under that leaderboard's normalisation. The same "
        "inputs give a byte-identical zip.",
    )
    p.add_argument("outs", type=Path, nargs="+", help="--output_path dirs of runs or sweeps")
    p.add_argument("-o", "--output", type=Path, required=True, help="the zip to write")
    p.add_argument(
        "--suite", help="a shipped suite name (open_llm_v2, babylm, mc_norm) or a suite YAML file"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Package, print the scores table (with a suite) and where the zip is."""
    from lm_eval_ext.submission import load_suite, package_runs

    suite = load_suite(args.suite) if args.suite else None
    packaged = package_runs(args.outs, args.output, suite)
    if suite is not None:
        from lm_eval_ext.submission.scores import scores_markdown

        print(scores_markdown(packaged.scores, suite))
    print(f"packaged {len(packaged.runs)} run(s) -> {packaged.path}")
    return 0
