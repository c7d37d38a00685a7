"""Benchmark of ``lm-eval-ext report``: 100 checkpoints x 60 tasks of generated results files.

    .venv/bin/python bench/report.py                  # 100 x 60, target: under 10 s
    .venv/bin/python bench/report.py --checkpoints 20 --tasks 10

Writes, in a temp dir, what ``lm_eval --log_samples`` leaves for each checkpoint of one run
(``lm_eval_ext.demo.fake_results``: one results file with every task, and a samples file per
task of 40 four-choice docs; accuracy rising with the step), then times ``build_report`` over
them: reading and attributing every results file, the long table (CSV + Parquet), the pivot,
the chance levels (one samples file per task), one learning-curve PNG per metric family (60
panels each), the HTML page, and one paired comparison (last vs first checkpoint, 60 tasks x
2 metrics, 9,999 bootstrap resamples each). Generation is not timed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from lm_eval_ext.demo.fake_results import fake_task_rows, write_fake_run
from lm_eval_ext.report import build_report


def generate(root: Path, n_checkpoints: int, n_tasks: int) -> None:
    """One run's checkpoints, each evaluated on every task."""
    for i in range(n_checkpoints):
        step = 1000 * (i + 1)
        accuracy = 0.25 + 0.6 * i / max(n_checkpoints - 1, 1)
        tasks = {
            f"task_{t:02d}": fake_task_rows(f"task_{t:02d}", 40, accuracy) for t in range(n_tasks)
        }
        args = {"pretrained": f"/runs/bench/checkpoint-{step}"}
        write_fake_run(root / f"checkpoint-{step}", args, tasks, date_id="2026-01-01T00-00-00")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        generate(root / "results", args.checkpoints, args.tasks)
        files = len(list((root / "results").rglob("*.json*")))
        print(
            f"generated {args.checkpoints} checkpoints x {args.tasks} tasks: {files} files "
            f"({time.perf_counter() - t0:.1f} s, not timed)"
        )
        for label, compare in (
            ("report", []),
            ("report + 1 paired comparison", [("bench@last", "bench@checkpoint-1000")]),
        ):
            start = time.perf_counter()
            report = build_report([root / "results"], root / "report", compare=compare)
            seconds = time.perf_counter() - start
            rows = len(report.table)
            pngs = len(list((root / "report").glob("*.png")))
            print(
                f"  {label:32s}: {seconds:6.2f} s  ({rows} table rows, {pngs} PNGs; target < 10 s)"
            )


if __name__ == "__main__":
    main()
