"""``lm-eval-ext sweep OUT``: evaluate many checkpoints, one ``lm_eval`` run per cell."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from lm_eval_ext.errors import SweepError

#: lm_eval options taken as they are and passed to every cell
_PASSED = ("num_fewshot", "batch_size", "device", "limit", "gen_kwargs")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``sweep`` subcommand."""
    p = subparsers.add_parser(
        "sweep",
        help="evaluate many checkpoints (hub revisions, checkpoint-* dirs, LoRA adapters): "
        "one resumable lm_eval run per checkpoint x task group, locally or on Slurm",
        description="Without checkpoint options, continue the sweep already in OUT.",
    )
    p.add_argument("out", type=Path, help="the sweep's folder (OUT/sweep.json, OUT/<run>/<ckpt>/)")
    _add_sources(p.add_argument_group("checkpoints (any combination)"))
    _add_lm_eval(p.add_argument_group("lm_eval options (shared by every cell)"))
    _add_running(p.add_argument_group("running"), p.add_argument_group("Slurm"))
    p.set_defaults(func=run_command)


def _add_sources(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add(
        "--revisions",
        action="append",
        default=[],
        metavar="R1,R2",
        help="hub revisions of pretrained= (branches, tags, commits)",
    )
    add(
        "--revision_pattern",
        action="append",
        default=[],
        metavar="PATTERN",
        help="every branch/tag of pretrained= matching this shell pattern, e.g. 'step-*' "
        "(offline: the refs in the hub cache)",
    )
    add(
        "--checkpoints",
        action="append",
        default=[],
        metavar="GLOB",
        help="local checkpoint dirs, e.g. 'runs/a/checkpoint-*'",
    )
    add(
        "--adapters",
        action="append",
        default=[],
        metavar="GLOB",
        help="LoRA adapter dirs, each merged onto pretrained=",
    )
    add("--checkpoint_file", type=Path, metavar="FILE", help="one revision or directory per line")
    add("--include_base", action="store_true", help="evaluate pretrained= itself too")
    add("--name", help="run folder name (default: from the repo or directory)")


def _add_lm_eval(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add("--model", default="mgm_lora", help="lm-eval backend (default: mgm_lora)")
    add("--model_args", default="", help="base model args, e.g. pretrained=ORG/NAME,dtype=bfloat16")
    add(
        "--tasks",
        action="append",
        default=[],
        metavar="T1,T2",
        help="a task group (repeatable: one cell per checkpoint and group)",
    )
    add("--include_path", action="append", default=[], metavar="DIR")
    for flag in _PASSED:
        add(f"--{flag}")
    add("--apply_chat_template", action="store_true")
    add(
        "--lm_eval_args",
        default="",
        metavar="'ARGS'",
        help="any other lm_eval options, as one quoted string",
    )


def _add_running(run: argparse._ArgumentGroup, slurm: argparse._ArgumentGroup) -> None:
    run.add_argument(
        "--devices",
        metavar="0,1,...",
        help="one cell per device at a time (CUDA_VISIBLE_DEVICES per cell)",
    )
    run.add_argument(
        "--shards",
        type=int,
        metavar="N",
        help="split each checkpoint x task group into N shard cells (journal_shard=k/N), "
        "merged into the group's results once all are done (default 1; fixed per OUT)",
    )
    run.add_argument("--cell", type=int, action="append", metavar="I", help="run only cell I")
    run.add_argument(
        "--dry-run",
        "--dry_run",
        dest="dry_run",
        action="store_true",
        help="print the lm_eval command of every cell not done (and each sharded group's "
        "merge command); write nothing",
    )
    run.add_argument(
        "--lm_eval_cmd",
        metavar="'CMD'",
        help="how to start lm_eval (default: lm_eval), e.g. 'srun lm_eval'",
    )
    run.add_argument(
        "--merge_cmd",
        metavar="'CMD'",
        help="how to start `lm-eval-ext merge` for sharded groups (default: this Python's), "
        "e.g. 'apptainer exec eval.sif lm-eval-ext merge'",
    )
    slurm.add_argument(
        "--slurm", action="store_true", help="write a job-array script (one cell per array task)"
    )
    slurm.add_argument("--submit", action="store_true", help="and submit it with sbatch")
    slurm.add_argument("--slurm_parallelism", type=int, metavar="K", help="#SBATCH --array=...%%K")
    slurm.add_argument(
        "--slurm_option",
        action="append",
        default=[],
        metavar="OPT",
        help="an #SBATCH line, e.g. --slurm_option=--gres=gpu:1 (repeatable)",
    )
    slurm.add_argument("--slurm_job_name", default="lm-eval-sweep")


def _has_sources(args: argparse.Namespace) -> bool:
    return bool(
        args.revisions
        or args.revision_pattern
        or args.checkpoints
        or args.adapters
        or args.checkpoint_file
        or args.include_base
    )


def _spec(args: argparse.Namespace):
    from lm_eval_ext.sweep import SweepSpec, check_pass_through

    if not args.tasks:
        raise SweepError("--tasks: give at least one task group")
    passed = []
    for flag in _PASSED:
        if getattr(args, flag) is not None:
            passed += [f"--{flag}", str(getattr(args, flag))]
    passed += ["--apply_chat_template"] if args.apply_chat_template else []
    passed += shlex.split(args.lm_eval_args)
    check_pass_through(passed)
    groups = [[t.strip() for t in group.split(",") if t.strip()] for group in args.tasks]
    include = [str(Path(p).resolve()) for p in args.include_path]
    return SweepSpec(args.model, args.model_args, groups, include, passed)


def _checkpoints(args: argparse.Namespace, adapter_arg: str) -> list:
    from lm_eval_ext import sweep

    base = sweep.parse_model_args(args.model_args)
    if adapter_arg in base:
        raise SweepError(f"--model_args {adapter_arg}=: give adapters with --adapters")
    pretrained, revision = base.get("pretrained"), base.get("revision")
    needs_base = args.revisions or args.revision_pattern or args.adapters or args.include_base
    if needs_base and not pretrained:
        raise SweepError("--model_args pretrained=...: needed for revisions, adapters and the base")
    specs = []
    for item in args.revisions:
        specs += sweep.hub_revisions(pretrained, item.split(","))
    for pattern in args.revision_pattern:
        specs += sweep.hub_revision_pattern(pretrained, pattern)
    for pattern in args.checkpoints:
        specs += sweep.local_checkpoints(pattern, pretrained)
    for pattern in args.adapters:
        specs += sweep.adapter_checkpoints(pattern, pretrained)
    if args.checkpoint_file:
        specs += sweep.checkpoints_from_file(args.checkpoint_file, pretrained)
    if args.name:
        specs = [_renamed(s, args.name) for s in specs]
    if args.include_base:
        adapter_runs = [s.run for s in specs if s.kind == "adapter"]
        specs += sweep.base_checkpoint(pretrained, revision, adapter_runs)
    return sweep.order_checkpoints(specs)


def _renamed(spec, name: str):
    """``--name`` names the base's run; an adapter run becomes ``NAME+<adapter run>``."""
    from dataclasses import replace

    if spec.kind == "adapter":
        return replace(spec, run=f"{name}+{spec.run.split('+', 1)[-1]}")
    return replace(spec, run=name)


def _manifest(args: argparse.Namespace, lm_eval_cmd: list[str] | None, merge_cmd: list[str] | None):
    from lm_eval_ext import sweep

    if not _has_sources(args):
        if args.tasks or args.model_args:
            raise SweepError("no checkpoints given (--revisions, --checkpoints, --adapters, ...)")
        return sweep.load_manifest(args.out, shards=args.shards)
    spec = _spec(args)
    shards = 1 if args.shards is None else args.shards
    planned = sweep.plan_manifest(
        spec,
        _checkpoints(args, spec.adapter_arg),
        lm_eval_cmd or sweep.default_lm_eval_cmd(),
        shards=shards,
        merge_cmd=(merge_cmd or sweep.default_merge_cmd()) if shards > 1 else None,
    )
    if args.dry_run:
        if sweep.is_sweep(args.out):
            sweep.load_manifest(args.out, shards=shards)  # the same refusal as a real run's
        return planned
    manifest, added = sweep.write_manifest(args.out, planned)
    print(f"sweep {args.out}: {len(manifest.cells)} cells ({added} new)")
    return manifest


def run_command(args: argparse.Namespace) -> int:
    """Plan or continue the sweep, then run, print or submit its cells."""
    from lm_eval_ext import sweep

    lm_eval_cmd = shlex.split(args.lm_eval_cmd) if args.lm_eval_cmd else None
    merge_cmd = shlex.split(args.merge_cmd) if args.merge_cmd else None
    manifest = _manifest(args, lm_eval_cmd, merge_cmd)
    cells = [manifest.cell(i) for i in args.cell] if args.cell else manifest.cells
    if args.dry_run:
        for command in sweep.planned_commands(args.out, manifest, cells, lm_eval_cmd, merge_cmd):
            print(shlex.join(command))
        return 0
    if args.slurm or args.submit:
        pending = [c.index for c in sweep.pending_cells(args.out, manifest, cells)]
        return _slurm(args, manifest, pending, lm_eval_cmd, merge_cmd)
    devices = [d.strip() for d in args.devices.split(",")] if args.devices else None
    outcomes = sweep.run_sweep(
        args.out,
        manifest,
        cells=cells,
        devices=devices,
        lm_eval_cmd=lm_eval_cmd,
        merge_cmd=merge_cmd,
    )
    counts = {
        s: sum(o.state == s for o in outcomes) for s in ("done", "skipped", "running", "errored")
    }
    line = f"sweep {args.out}: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    merges_errored = 0
    if manifest.shards > 1:
        merges, merges_errored = _merge_counts(outcomes, cells)
        line += "; groups: " + ", ".join(f"{n} {s}" for s, n in merges.items())
    print(line)
    return 1 if counts["errored"] or merges_errored else 0


def _merge_counts(outcomes: list, cells: list) -> tuple[dict[str, int], int]:
    """How the groups of ``cells`` fared in this run (a group without a try waits for shards)."""
    from lm_eval_ext import sweep

    merges = sweep.group_outcomes(outcomes)
    names = {
        "done": "merged",
        "skipped": "merged before",
        "running": "merging elsewhere",
        "errored": "merge errored",
    }
    counts = {name: sum(m.state == s for m in merges) for s, name in names.items()}
    groups = len({c.group_dir for c in cells})
    counts["waiting for shards"] = groups - sum(counts.values())
    return counts, counts["merge errored"]


def _slurm(
    args: argparse.Namespace,
    manifest,
    indices: list[int],
    lm_eval_cmd: list[str] | None,
    merge_cmd: list[str] | None,
) -> int:
    from lm_eval_ext import sweep

    script = sweep.slurm_script(
        args.out,
        manifest,
        indices,
        parallelism=args.slurm_parallelism,
        options=args.slurm_option,
        job_name=args.slurm_job_name,
        lm_eval_cmd=lm_eval_cmd,
        merge_cmd=merge_cmd,
    )
    path = sweep.write_slurm_script(args.out, script)
    if not args.submit:
        print(f"wrote {path} ({len(indices)} cells); submit with: sbatch {path}")
        return 0
    job_id = sweep.submit_script(args.out, path, indices)
    print(f"submitted job array {job_id}: {len(indices)} cells ({path})")
    return 0
