"""Arguments shared by several ``lm-eval-ext`` subcommands."""

from __future__ import annotations

import argparse


def add_include_path(parser: argparse.ArgumentParser) -> None:
    """``--include_path DIR`` (repeatable), as for the commands that reload a run's tasks."""
    parser.add_argument(
        "--include_path",
        action="append",
        default=None,
        metavar="DIR",
        help="task directories (repeatable); default: where the run's task "
        "configs came from, plus lm-eval's built-in tasks when it used any",
    )
