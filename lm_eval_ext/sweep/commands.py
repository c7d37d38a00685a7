"""The ``lm_eval`` command of one cell: the sweep's options plus the checkpoint and its journal.

Every cell runs ``lm_eval --model M --model_args <base>,<checkpoint>,journal=<cell>/journal
--tasks T --log_samples --output_path OUT/<run>/<checkpoint>/<group>``, whatever the backend
(``--model``): the journal makes the cell idempotent (rerun = resume) and its lock keeps a
second process off it. A shard cell adds ``journal_shard=k/N`` and writes into its own folder;
its group's merge runs ``lm-eval-ext merge --complete <shard folders> -o <group folder>``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from lm_eval_ext.errors import SweepError
from lm_eval_ext.sweep.manifest import Cell, Manifest, SweepSpec
from lm_eval_ext.sweep.sources import CheckpointSpec

__all__ = [
    "CHECKPOINT_KEYS",
    "RESERVED_OPTIONS",
    "cell_command",
    "cell_model_args",
    "default_lm_eval_cmd",
    "default_merge_cmd",
    "format_model_args",
    "merge_command",
    "parse_model_args",
]

#: model args a checkpoint sets (never taken from the base --model_args)
CHECKPOINT_KEYS = ("pretrained", "revision", "lora", "peft")
#: lm_eval options the sweep sets for every cell
RESERVED_OPTIONS = ("--model", "--model_args", "--tasks", "--output_path", "--log_samples", "-o")
#: model args the sweep sets for every cell (``journal_shard`` with ``--shards``)
RESERVED_MODEL_ARGS = ("journal_shard",)


def default_lm_eval_cmd() -> list[str]:
    """The ``lm_eval`` of this interpreter's environment, else the one on ``PATH``."""
    here = Path(sys.executable).with_name("lm_eval")
    if here.exists():
        return [str(here)]
    found = shutil.which("lm_eval")
    if found is None:
        raise SweepError("lm_eval not found next to this Python or on PATH (--lm_eval_cmd)")
    return [found]


def default_merge_cmd() -> list[str]:
    """``lm-eval-ext merge`` of this interpreter (what merges a sharded group by default)."""
    return [sys.executable, "-m", "lm_eval_ext.cli.main", "merge"]


def parse_model_args(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` (lm-eval's ``--model_args`` string) -> an ordered dict of strings."""
    args: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SweepError(f"--model_args: {item!r} is not key=value")
        args[key.strip()] = value.strip()
    return args


def format_model_args(args: dict[str, str]) -> str:
    """Inverse of :func:`parse_model_args`."""
    return ",".join(f"{k}={v}" for k, v in args.items())


def cell_model_args(
    spec: SweepSpec, checkpoint: CheckpointSpec, journal: Path, shard: str | None = None
) -> str:
    """The base model args with the checkpoint's keys set and ``journal=`` (then
    ``journal_shard=``, for a shard) added last."""
    base = parse_model_args(spec.model_args)
    for key in RESERVED_MODEL_ARGS:
        if key in base:
            raise SweepError(f"--model_args {key}=: the sweep shards groups itself (--shards N)")
    args = {"pretrained": checkpoint.pretrained}
    if checkpoint.revision:
        args["revision"] = checkpoint.revision
    elif checkpoint.kind != "local" and base.get("revision"):
        args["revision"] = base["revision"]  # an adapter's or the base's hub revision
    if checkpoint.adapter:
        args[spec.adapter_arg] = checkpoint.adapter
    args.update({k: v for k, v in base.items() if k not in CHECKPOINT_KEYS})
    args["journal"] = str(journal)
    if shard is not None:
        args["journal_shard"] = shard
    return format_model_args(args)


def cell_command(
    out: Path, manifest: Manifest, cell: Cell, lm_eval_cmd: list[str] | None = None
) -> list[str]:
    """The full ``lm_eval`` argv of ``cell`` (absolute paths, runnable from anywhere)."""
    spec = manifest.spec
    cell_dir = Path(out).resolve() / cell.dir
    command = list(lm_eval_cmd or manifest.lm_eval_cmd or default_lm_eval_cmd())
    command += ["--model", spec.model]
    shard = None if cell.shard is None else f"{cell.shard}/{cell.shards}"
    model_args = cell_model_args(spec, cell.checkpoint, cell_dir / "journal", shard)
    command += ["--model_args", model_args]
    command += ["--tasks", ",".join(cell.tasks)]
    for path in spec.include_path:
        command += ["--include_path", path]
    command += [*spec.lm_eval_args, "--log_samples", "--output_path", str(cell_dir)]
    return command


def merge_command(
    out: Path, manifest: Manifest, shards: list[Cell], merge_cmd: list[str] | None = None
) -> list[str]:
    """The argv merging a group's ``shards`` into the group's folder (absolute paths).

    ``--complete``: a merge that would lack a shard or a doc's answer writes no results.
    """
    out = Path(out).resolve()
    command = list(merge_cmd or manifest.merge_cmd or default_merge_cmd())
    command += ["--complete", *(str(out / cell.dir) for cell in shards)]
    return [*command, "--output_path", str(out / shards[0].group_dir)]


def check_pass_through(args: list[str]) -> None:
    """Refuse lm_eval options the sweep sets itself."""
    for arg in args:
        if arg.split("=", 1)[0] in RESERVED_OPTIONS:
            raise SweepError(f"{arg}: the sweep sets this lm_eval option for every cell")
    if "journal=" in " ".join(args):
        raise SweepError("journal=: the sweep gives every cell its own journal")
