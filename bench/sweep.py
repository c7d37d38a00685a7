"""Benchmark of ``lm-eval-ext sweep`` on CPU: 2 "devices" vs sequential; per-cell overhead.

    .venv/bin/python bench/sweep.py                 # 4 checkpoints, once (~4 min on 2 cores)
    .venv/bin/python bench/sweep.py --repeats 2

Workload (offline, built in a temp dir): the demo's genuinely trained tiny Llama
(``lm_eval_ext.demo.training``, N ``checkpoint-*`` dirs), evaluated on ``demo_kind`` (200
held-out docs x 4 choices) with ``--device cpu --batch_size 16``, one torch thread per process.
Measured side by side in one run (repeats interleaved a, b, c, a, b, c, ...; medians):

  (a) bare:       the cells' own ``lm_eval`` commands (as ``--dry-run`` prints them, journal
                  included), run one after another by this script;
  (b) sequential: ``lm-eval-ext sweep OUT`` on a fresh OUT (claims, markers, status checks,
                  summaries, the sweep process's own start);
  (c) 2 devices:  ``lm-eval-ext sweep OUT --devices 0,1`` on a fresh OUT: two cells at a time.

Printed: wall-clock and CPU seconds (the commands' subprocesses included), the per-cell
overhead b/a - 1 (target <= 5%) and the speed-up b/c.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lm_eval_ext.demo.training import TrainingPlan, build_trained_world

TASKS = Path(__file__).resolve().parents[1] / "tasks" / "demo"
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def sweep_args(out: Path, run_dir: Path) -> list[str]:
    """``lm-eval-ext sweep`` arguments of the benchmark's sweep into ``out``."""
    return [
        sys.executable,
        "-m",
        "lm_eval_ext.cli.main",
        "sweep",
        str(out),
        "--checkpoints",
        str(run_dir / "checkpoint-*"),
        "--tasks",
        "demo_kind",
        "--include_path",
        str(TASKS),
        "--model_args",
        "dtype=float32",
        "--device",
        "cpu",
        "--batch_size",
        "16",
    ]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for descendants included
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str]) -> tuple[float, float]:
    """(wall-clock, CPU) seconds of one command, its subprocesses included; it must succeed."""
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(
        command, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start, _children_cpu() - cpu


def bare(out: Path, run_dir: Path) -> tuple[float, float]:
    """The cells' lm_eval commands, one after another."""
    command = [*sweep_args(out, run_dir), "--dry-run"]
    printed = subprocess.run(command, env=ENV, check=True, capture_output=True, text=True).stdout
    runs = [timed(shlex.split(line)) for line in printed.splitlines()]
    return sum(wall for wall, _ in runs), sum(cpu for _, cpu in runs)


LABELS = {
    "a": "(a) bare lm_eval, one after another",
    "b": "(b) sweep, sequential",
    "c": "(c) sweep, --devices 0,1",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plan = TrainingPlan(steps=30 * (args.checkpoints - 1), save_every=30, lora_steps=0)
        world = build_trained_world(root / "world", plan)
        n = len(world.checkpoints)
        print(f"{n} checkpoints of the trained tiny run; demo_kind, 800 requests per cell")
        times: dict[str, list[tuple[float, float]]] = {key: [] for key in LABELS}
        for r in range(args.repeats):
            times["a"].append(bare(root / f"a{r}", world.run_dir))
            times["b"].append(timed(sweep_args(root / f"b{r}", world.run_dir)))
            devices = [*sweep_args(root / f"c{r}", world.run_dir), "--devices", "0,1"]
            times["c"].append(timed(devices))
        wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
        cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
        for key, label in LABELS.items():
            per_cell = wall[key] / n
            print(
                f"  {label:36s}: {wall[key]:6.1f} s wall ({per_cell:4.1f} s/cell) "
                f"{cpu[key]:6.1f} s CPU"
            )
        overhead_wall = 100 * (wall["b"] / wall["a"] - 1)
        overhead_cpu = 100 * (cpu["b"] / cpu["a"] - 1)
        print(
            f"  per-cell overhead b/a - 1 = {overhead_wall:+.1f}% wall, {overhead_cpu:+.1f}% CPU"
            "  (target <= 5%)"
        )
        print(f"  2 devices speed-up b/c    = {wall['b'] / wall['c']:.2f}x wall")


if __name__ == "__main__":
    main()
