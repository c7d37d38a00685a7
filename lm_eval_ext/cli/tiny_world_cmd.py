"""``lm-eval-ext make-tiny-world DIR``: build the offline tiny model, adapter and data."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``make-tiny-world`` subcommand."""
    p = subparsers.add_parser(
        "make-tiny-world",
        help="build a tiny random Llama + LoRA adapter + tokenizer offline (demo and tests)",
    )
    p.add_argument("out_dir", type=Path, help="directory to build into (reused if complete)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build (or reuse) the world and print where its parts are."""
    from lm_eval_ext.demo.tiny_world import build_world

    world = build_world(args.out_dir)
    print(f"model:   {world.model_dir}\nadapter: {world.lora_dir}\ndata:    {world.mc_jsonl}")
    return 0
