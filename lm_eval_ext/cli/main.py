"""Entry point of the ``lm-eval-ext`` console script.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``, which registers an
argparse sub-parser whose ``func(args) -> int`` does the work. Add new modules to SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lm_eval_ext import __version__
from lm_eval_ext.errors import LmEvalExtError

SUBCOMMANDS = [
    "lm_eval_ext.cli.models_cmd",
    "lm_eval_ext.cli.tiny_world_cmd",
    "lm_eval_ext.cli.status_cmd",
    "lm_eval_ext.cli.rescore_cmd",
    "lm_eval_ext.cli.merge_cmd",
    "lm_eval_ext.cli.finalize_cmd",
    "lm_eval_ext.cli.package_cmd",
    "lm_eval_ext.cli.validate_cmd",
    "lm_eval_ext.cli.sweep_cmd",
    "lm_eval_ext.cli.report_cmd",
    "lm_eval_ext.cli.demo_sweep_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    """The full ``lm-eval-ext`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="lm-eval-ext",
        description="Companion commands for lm-evaluation-harness runs "
        "(evaluations themselves run through the plain `lm_eval` CLI).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in SUBCOMMANDS:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``lm-eval-ext``; user errors print one clear line and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LmEvalExtError as exc:
        print(f"lm-eval-ext {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
