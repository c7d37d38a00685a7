"""``lm-eval-ext models``: show which of our models the plain ``lm_eval`` CLI resolves."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``models`` subcommand."""
    p = subparsers.add_parser("models", help="list lm_eval_ext's models as lm-eval resolves them")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print each registered alias with the class lm-eval's registry returns for it."""
    from lm_eval.api.registry import get_model

    from lm_eval_ext.registration import MODELS, register_all

    register_all()
    for alias in MODELS:
        cls = get_model(alias)
        print(f"{alias:12s} {cls.__module__}:{cls.__name__}")
    return 0
