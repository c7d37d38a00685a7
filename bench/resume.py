"""Benchmark of the resume layer on the tiny offline model (where its overhead shows most).

    python bench/resume.py [--repeats 3]

Measures, in-process with ``lm_eval.simple_evaluate`` (model load included in every timing):
1. journal overhead: a fresh run with ``journal=DIR`` vs the same run without it;
2. resume cost: the journal of a finished run cut back to its first 90% of records (what a
   kill at 90% leaves), then the identical run again, vs the full run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASKS = ["ext_sample_mc", "ext_sample_gen"]


def _run(model_args: dict) -> float:
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(REPO / "tasks" / "sample"), include_defaults=False,
                          metadata=dict(model_args))
    start = time.perf_counter()
    lm_eval.simple_evaluate(model="mgm_lora", model_args=model_args, tasks=TASKS,
                            task_manager=manager, log_samples=True, batch_size=4,
                            device="cpu", bootstrap_iters=0)
    return time.perf_counter() - start


def _cut_to(journal: Path, fraction: float) -> None:
    path = journal / "main.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: int(len(lines) * fraction)]))


def main() -> None:
    """Print the measured times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    from lm_eval_ext.testing.tiny_world import build_world

    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp) / "world")
        base = {"pretrained": str(world.model_dir), "lora": str(world.lora_dir)}
        _run(base)  # warm-up: imports, page cache
        plain, journaled, resumed = [], [], []
        for i in range(opts.repeats):
            plain.append(_run(base))
            journal = Path(tmp) / f"journal{i}"
            journaled.append(_run({**base, "journal": str(journal)}))
            _cut_to(journal, 0.9)
            resumed.append(_run({**base, "journal": str(journal)}))
    p, j, r = (statistics.median(x) for x in (plain, journaled, resumed))
    print(f"tasks {TASKS}, tiny model, {opts.repeats} repeats (medians, model load included)")
    print(f"without journal : {p:.3f} s")
    print(f"with journal    : {j:.3f} s   overhead {100 * (j / p - 1):+.1f}%")
    print(f"resume at 90%   : {r:.3f} s   = {100 * r / j:.1f}% of the full journaled run")


if __name__ == "__main__":
    main()
