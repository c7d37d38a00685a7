"""Benchmark of the journal on an API model: overhead, and what a kill costs in re-sent requests.

    .venv/bin/python bench/api_journal.py             # ~3 minutes on a quiet 2-core CPU
    .venv/bin/python bench/api_journal.py --quick     # sanity run, ~1 minute

Workload (built offline in a temp dir): ``bench/_resume_world.py``'s generated task with a tiny
Llama (hidden 64, 2 layers) served by ``tests/support/completions_server.py`` on 127.0.0.1 with
5 ms of simulated latency per answer; lm-eval's ``local-completions`` sends ``--mc-docs`` x 4
loglikelihood requests and ``--gen-docs`` greedy generations, ``num_concurrent`` at a time.
The server runs in this process and serves each prompt's answer from memory after a first,
untimed run computed it, so that it costs little but its latency; every timed run is a child
interpreter, so the client has its process to itself and the timing is the child's
``simple_evaluate`` alone.

Measured side by side, repeats interleaved (a, b, a, b, ...), medians reported:
  (a) plain run, no journal;
  (b) the same run with ``journal=DIR`` (fresh journal).
Printed: overhead = b/a - 1 (target <= 3%). Then a journaled run that the server SIGKILLs just
before its answer to half of the requests, and the rerun on its journal: the requests the
server answered twice (what a provider bills twice), against the requests in flight at the
kill (at most ``num_concurrent``; target: re-sent <= in flight).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from _resume_world import GEN_TASK, MC_TASK, build_bench_world  # noqa: E402

from tests.support.completions_server import (  # noqa: E402
    CompletionsServer,
    FaultPlan,
    local_completions_args,
)

TASKS = [MC_TASK, GEN_TASK]


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small workload, 1 repeat")
    parser.add_argument("--repeats", type=int, default=None, help="default 5 (quick: 1)")
    parser.add_argument("--mc-docs", type=int, default=None, help="default 300 (quick: 50)")
    parser.add_argument("--gen-docs", type=int, default=None, help="default 32 (quick: 8)")
    parser.add_argument("--num-concurrent", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per answer")
    parser.add_argument("--child", nargs=3, metavar=("MODEL_ARGS", "TASKS_DIR", "OUT"))
    opts = parser.parse_args()
    opts.repeats = opts.repeats or (1 if opts.quick else 5)
    opts.mc_docs = opts.mc_docs or (50 if opts.quick else 300)
    opts.gen_docs = opts.gen_docs if opts.gen_docs is not None else (8 if opts.quick else 32)
    return opts


def child(model_args: str, tasks_dir: str, out: str) -> None:
    """One timed evaluation (the child's side); prints ``{"wall": s, "cpu": s}`` last."""
    os.environ["LM_EVAL_EXT_FINALIZE"] = "0"
    import lm_eval
    from lm_eval.tasks import TaskManager

    start, cpu = time.perf_counter(), time.process_time()
    lm_eval.simple_evaluate(
        model="local-completions",
        model_args=model_args,
        tasks=TASKS,
        task_manager=TaskManager(include_path=tasks_dir, include_defaults=False),
        batch_size=1,
        log_samples=True,
        bootstrap_iters=0,
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"wall": wall, "cpu": cpu, "out": out}), flush=True)


def _start(model_args: str, tasks_dir: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.setdefault("OMP_NUM_THREADS", "1")
    env["HF_DATASETS_CACHE"] = str(out.parent / "hf_datasets")
    command = [sys.executable, __file__, "--child", model_args, str(tasks_dir), str(out)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def timed_run(model_args: str, tasks_dir: Path, out: Path) -> tuple[float, float]:
    """(wall s, cpu s) of one child evaluation."""
    proc = _start(model_args, tasks_dir, out)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(stderr.decode()[-3000:])
    timing = json.loads(stdout.decode().strip().splitlines()[-1])
    return timing["wall"], timing["cpu"]


def measure_overhead(server: CompletionsServer, opts, world, tmp: Path) -> None:
    """Interleaved plain / journaled runs; prints medians and the overhead."""
    base = local_completions_args(
        server.base_url, world.model_dir, num_concurrent=opts.num_concurrent
    )
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "journal": []}
    timed_run(base, world.tasks_dir, tmp / "warm-up")  # the server computes every answer once
    for i in range(opts.repeats):
        times["plain"].append(timed_run(base, world.tasks_dir, tmp / f"plain{i}"))
        journaled = f"{base},journal={tmp / f'journal{i}'}"
        times["journal"].append(timed_run(journaled, world.tasks_dir, tmp / f"journal{i}"))
        print(
            f"  repeat {i + 1}: plain {times['plain'][-1][0]:.2f} s, "
            f"journal {times['journal'][-1][0]:.2f} s",
            flush=True,
        )
    med = {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for k, v in times.items()
    }
    print(f"  (a) without journal : {med['plain'][0]:7.2f} s wall  {med['plain'][1]:7.2f} s cpu")
    print(
        f"  (b) with journal    : {med['journal'][0]:7.2f} s wall  {med['journal'][1]:7.2f} s cpu"
    )
    wall = med["journal"][0] / med["plain"][0] - 1
    cpu = med["journal"][1] / med["plain"][1] - 1
    print(f"  journal overhead  b/a-1 = {wall:+.1%} wall  {cpu:+.1%} cpu   (target <= +3%)")
    per = ", ".join(
        f"{j[0] / p[0] - 1:+.1%}" for p, j in zip(times["plain"], times["journal"], strict=True)
    )
    print(f"  per-repeat overhead (wall): {per}")


def measure_kill(server: CompletionsServer, opts, world, tmp: Path, total: int) -> None:
    """A journaled run killed before the answer to half of its requests, then rerun."""
    from lm_eval_ext.resume.storage.journal import load_entries

    journal = tmp / "killed-journal"
    args = local_completions_args(
        server.base_url, world.model_dir, num_concurrent=opts.num_concurrent, journal=journal
    )
    kill_at, proc = total // 2, []

    def kill(n: int) -> None:
        if n == kill_at:
            os.kill(proc[0].pid, signal.SIGKILL)

    server.reset(FaultPlan(latency_s=opts.latency))
    server.on_answer = kill
    proc.append(_start(args, world.tasks_dir, tmp / "killed"))
    proc[0].communicate()
    time.sleep(0.5)  # the server's handlers still sending to the dead client finish
    server.on_answer = None
    sent_before = server.traffic.total_answered
    journaled = len(load_entries(journal)[0])
    timed_run(args, world.tasks_dir, tmp / "rerun")
    answered = server.traffic.answered
    twice = sum(n - 1 for n in answered.values())
    print(
        f"  killed (SIGKILL) before answer {kill_at} of {total}: the server had answered "
        f"{sent_before}, the journal held {journaled}"
    )
    print(
        f"  rerun: {server.traffic.total_answered - sent_before} requests sent; answered twice "
        f"(paid twice): {twice}; in flight at the kill: {sent_before - journaled} "
        f"(num_concurrent={opts.num_concurrent}; target: paid twice <= in flight)"
    )
    assert len(answered) == total, "some request was never answered"


def main() -> None:
    """Build the world, serve it, measure."""
    opts = _parse()
    if opts.child:
        child(*opts.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-api-journal-") as tmp_name:
        tmp = Path(tmp_name)
        world = build_bench_world(tmp / "world", opts.mc_docs, opts.gen_docs, hidden=64, layers=2)
        total = 4 * opts.mc_docs + opts.gen_docs
        print(
            f"workload: {total} requests ({opts.mc_docs} MC docs x 4 + {opts.gen_docs} "
            f"generations), local-completions, num_concurrent={opts.num_concurrent}, "
            f"server latency {opts.latency * 1000:.0f} ms; load: "
            f"{subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}",
            flush=True,
        )
        plan = FaultPlan(latency_s=opts.latency)
        with CompletionsServer(world.model_dir, plan, max_lifetime_s=3600, remember=True) as server:
            measure_overhead(server, opts, world, tmp)
            measure_kill(server, opts, world, tmp, total)


if __name__ == "__main__":
    main()
