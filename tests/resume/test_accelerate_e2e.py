"""lm-eval's own multi-process mode (``accelerate launch``) with the resume journal, on CPU.

On a machine without GPUs, ``accelerate launch --cpu --num_processes 2`` starts one process
(accelerate runs several CPU processes only through ``mpirun`` and a hostfile). What starts a
gloo process group is accelerate's torch.distributed launcher, ``--multi_gpu``, with
``ACCELERATE_USE_CPU=1`` in the environment. lm-eval's ``HFLM`` then takes its accelerate branch
but splits the documents between ranks only when it counts more than one GPU
(``lm_eval/models/huggingface.py``: ``elif gpus > 1``), so on CPU every rank evaluates every
request and only ``LOCAL_RANK`` 0 writes results. The checks below hold with or without that
split: each rank journals into its own ``rank<R>.jsonl``, a request's key does not depend on the
rank that computed it, and a single-process rerun resumes from the rank files, computing only
the requests they lack. Numbers are compared to 1e-6, not bit for bit: float32 sums on CPU
depend on the thread count and on accelerate's CPU set-up (a few log-likelihoods move in the 7th
significant digit between an in-process run and a ranked one).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lm_eval
import pytest
import torch
from lm_eval.tasks import TaskManager

from lm_eval_ext.resume.storage.journal import load_entries
from lm_eval_ext.resume.storage.records import ResponseRecord, scan_file
from tests.support.lm_eval_runs import OFFLINE_ENV, read_results, run_lm_eval

pytestmark = pytest.mark.e2e

TASKS = ("ext_sample_mc", "ext_sample_gen")  # 80 loglikelihood + 20 generate_until requests
CHUNK = 8  # journal_chunk: several journal writes per request type


def _model_args(world, journal: Path) -> dict[str, str]:
    return {
        "pretrained": str(world.model_dir),
        "lora": str(world.lora_dir),
        "journal": str(journal),
        "journal_chunk": str(CHUNK),
    }


def _cli_args(world, tasks_dir: Path, out: Path, journal: Path) -> list[str]:
    model_args = ",".join(f"{k}={v}" for k, v in _model_args(world, journal).items())
    return [
        "--include_path",
        str(tasks_dir / "sample"),
        "--tasks",
        ",".join(TASKS),
        "--model",
        "mgm_lora",
        "--model_args",
        model_args,
        "--device",
        "cpu",
        "--batch_size",
        "4",
        "--output_path",
        str(out),
    ]


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    # Two OpenMP threads on a 2-core machine that is also running other work can make this
    # tiny model 50x slower (measured: 5.7 s vs 0.1 s for the 80 log-likelihoods).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _single_process_baseline(world, tasks_dir: Path, journal: Path) -> dict:
    """An in-process journaled run (no CLI start-up): the reference results and journal."""
    args = _model_args(world, journal)
    manager = TaskManager(
        include_path=str(tasks_dir / "sample"), include_defaults=False, metadata=dict(args)
    )
    with _one_torch_thread():
        return lm_eval.simple_evaluate(
            model="mgm_lora",
            model_args=args,
            tasks=list(TASKS),
            task_manager=manager,
            batch_size=4,
            device="cpu",
        )


def _accelerate_launch(args: list[str], cwd: Path, processes: int = 2) -> None:
    """``lm_eval ARGS`` under ``accelerate launch`` with ``processes`` CPU ranks (gloo)."""
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    launch = [
        accelerate,
        "launch",
        "--multi_gpu",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "0",  # a free port: tests may run side by side
        "-m",
        "lm_eval",
        *args,
    ]
    env = {**os.environ, **OFFLINE_ENV, "ACCELERATE_USE_CPU": "1"}
    proc = subprocess.run(launch, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"accelerate launch exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    )


def _file_responses(path: Path) -> dict[str, object]:
    """key -> response of the request records of one journal file."""
    return {r.key: r.resp for r in scan_file(path).records if isinstance(r, ResponseRecord)}


def _assert_same_responses(got: dict[str, object], want: dict[str, object]) -> None:
    """Same keys; same generations; log-likelihoods within 1e-6 (relative), same is_greedy."""
    assert sorted(got) == sorted(want)
    for key, resp in got.items():
        if isinstance(resp, list):  # loglikelihood: [logprob, is_greedy]
            assert resp[0] == pytest.approx(want[key][0], rel=1e-6) and resp[1] == want[key][1]
        else:
            assert resp == want[key]


def _assert_same_metrics(got: dict, want: dict) -> None:
    """``results`` of two runs: same tasks and metric names, values within 1e-6."""
    assert {t: sorted(m) for t, m in got.items()} == {t: sorted(m) for t, m in want.items()}
    for task, metrics in want.items():
        for name, value in metrics.items():
            if isinstance(value, (int, float)):
                assert got[task][name] == pytest.approx(value, abs=1e-6), (task, name)
            else:
                assert got[task][name] == value, (task, name)


def _keep_first_half(path: Path) -> None:
    """Cut a journal file to the first half of its (valid, complete) lines."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: len(lines) // 2]))


def test_two_process_run_journals_per_rank_and_resumes_single_process(
    tiny_world, tasks_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # for the lm_eval subprocesses; see above
    baseline = _single_process_baseline(tiny_world, tasks_dir, tmp_path / "base" / "journal")
    base_entries, _ = load_entries(tmp_path / "base" / "journal")
    base_resps = {k: r.resp for k, r in base_entries.items()}
    assert len(base_resps) == 100

    multi, journal = tmp_path / "multi", tmp_path / "multi" / "journal"
    _accelerate_launch(_cli_args(tiny_world, tasks_dir, multi, journal), cwd=tmp_path)
    assert sorted(p.name for p in journal.glob("*.jsonl")) == ["rank0.jsonl", "rank1.jsonl"]
    per_rank = [_file_responses(journal / f"rank{r}.jsonl") for r in (0, 1)]
    assert all(per_rank), "a rank journaled nothing"
    for rank_resps in per_rank:  # same key, same response, whichever rank computed it
        _assert_same_responses(rank_resps, {k: base_resps.get(k) for k in rank_resps})
    assert set(per_rank[0]) | set(per_rank[1]) == set(base_resps)
    _assert_same_metrics(read_results(multi)["results"], baseline["results"])

    # Resume with another process count: lose rank 0's file and half of rank 1's.
    (journal / "rank0.jsonl").unlink()
    _keep_first_half(journal / "rank1.jsonl")
    missing = set(base_resps) - set(load_entries(journal)[0])
    assert 0 < len(missing) < len(base_resps)
    resumed = tmp_path / "resumed"
    run_lm_eval(_cli_args(tiny_world, tasks_dir, resumed, journal), cwd=tmp_path)
    recomputed = [
        r.key for r in scan_file(journal / "main.jsonl").records if isinstance(r, ResponseRecord)
    ]
    assert sorted(recomputed) == sorted(missing), "the rerun computed other requests"
    _assert_same_responses(
        _file_responses(journal / "main.jsonl"), {k: base_resps[k] for k in recomputed}
    )
    _assert_same_metrics(read_results(resumed)["results"], baseline["results"])
