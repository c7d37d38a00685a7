"""``lm-eval-ext demo-sweep OUT``: train the tiny run + LoRA, sweep its checkpoints, report."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import lm_eval_ext

#: the repository's task folder (editable / source installs, which the demo uses)
TASKS_DIR = Path(lm_eval_ext.__file__).resolve().parents[1] / "tasks" / "demo"
DEMO_TASKS = ["demo_kind", "demo_kind_new"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``demo-sweep`` subcommand."""
    p = subparsers.add_parser(
        "demo-sweep",
        help="offline demo: train a tiny Llama (checkpoint-*) and a LoRA adapter on CPU, sweep "
        "every checkpoint with lm_eval, and write the report (curves, LoRA vs base)",
    )
    p.add_argument("out", type=Path, help="folder for models/, sweep/ and report/")
    p.add_argument("--devices", default="0,1", help="cells run at a time, as devices (default 0,1)")
    p.add_argument("--tasks_dir", type=Path, default=TASKS_DIR, help="folder of the demo tasks")
    p.add_argument("--lm_eval_cmd", metavar="'CMD'", help="how to start lm_eval (as for sweep)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train (or reuse), sweep (resuming), report; print the curve and the comparison."""
    from lm_eval_ext import report, sweep
    from lm_eval_ext.demo.training import build_trained_world

    world = build_trained_world(args.out / "models")
    base = world.checkpoints[-1]
    spec = sweep.SweepSpec(
        model="mgm_lora",
        model_args=f"pretrained={base},dtype=float32",
        task_groups=[DEMO_TASKS],
        include_path=[str(args.tasks_dir.resolve())],
        lm_eval_args=["--device", "cpu", "--batch_size", "16"],
    )
    checkpoints = sweep.local_checkpoints(str(world.run_dir / "checkpoint-*"))
    adapters = sweep.adapter_checkpoints(str(world.lora_dir / "checkpoint-*"), str(base))
    checkpoints += adapters + sweep.base_checkpoint(str(base), None, [a.run for a in adapters])
    command = shlex.split(args.lm_eval_cmd) if args.lm_eval_cmd else sweep.default_lm_eval_cmd()
    planned = sweep.plan_manifest(spec, sweep.order_checkpoints(checkpoints), command)
    manifest, _ = sweep.write_manifest(args.out / "sweep", planned)
    devices = [d for d in args.devices.split(",") if d]
    outcomes = sweep.run_sweep(args.out / "sweep", manifest, devices=devices, lm_eval_cmd=command)
    if any(o.state != "done" and o.state != "skipped" for o in outcomes):
        print("some cells did not finish: lm-eval-ext status", args.out / "sweep")
        return 1
    lora_run = adapters[0].run
    built = report.build_report(
        [args.out / "sweep"],
        args.out / "report",
        compare=[(f"{lora_run}@last", f"{lora_run}@base")],
    )
    _print_summary(built, checkpoints[0].run)
    return 0


def _print_summary(built, run: str) -> None:
    df = built.table
    curve = df[(df["run"] == run) & (df["task"] == "demo_kind") & (df["metric"] == "acc")]
    chance = built.chance.get("demo_kind")
    points = ", ".join(f"{s}: {v:.3f}" for s, v in zip(curve["step"], curve["value"], strict=True))
    print(f"\nlearning curve, {run}, demo_kind acc (chance {chance:.2f}): {points}")
    for comp in built.comparisons:
        for r in comp.results:
            if r.metric != "acc":
                continue
            print(
                f"{comp.a} vs {comp.b}, {r.task} acc: {r.mean_a:.3f} vs {r.mean_b:.3f}, "
                f"diff {r.diff:+.3f} [95% CI {r.ci_low:+.3f}, {r.ci_high:+.3f}], "
                f"McNemar {r.n10}/{r.n01} p={r.mcnemar_p:.3g}; unpaired z-test p={r.unpaired_p:.3g}"
            )
    print(f"report: {built.out_dir / 'report.html'}")
