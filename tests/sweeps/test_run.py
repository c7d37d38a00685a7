"""Running a sweep's cells (a stand-in lm_eval): skip done, record failures, claims, devices,
several workers on one OUT."""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lm_eval_ext.cli.main import main
from lm_eval_ext.sweep import load_manifest, run_sweep
from lm_eval_ext.sweep.cells import CellClaim


def _checkpoints(root: Path, steps=(0, 100, 200)) -> str:
    for step in steps:
        path = root / "ck" / "run" / f"checkpoint-{step}"
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text("{}")
    return str(root / "ck" / "run" / "checkpoint-*")


def _invocations(log: Path) -> Counter:
    if not log.exists():
        return Counter()
    lines = log.read_text().splitlines()
    return Counter(
        Path(json.loads(line)["output_path"]).relative_to(log.parent / "out").as_posix()
        for line in lines
    )


@pytest.fixture()
def fake_env(tmp_path, monkeypatch) -> Path:
    log = tmp_path / "invocations.jsonl"
    monkeypatch.setenv("FAKE_LM_EVAL_LOG", str(log))
    return log


def _sweep_args(tmp_path, fake_lm_eval_cmd, *extra) -> list[str]:
    return [
        "sweep",
        str(tmp_path / "out"),
        "--checkpoints",
        _checkpoints(tmp_path),
        "--tasks",
        "a,b",
        "--tasks",
        "c",
        "--lm_eval_cmd",
        fake_lm_eval_cmd,
        *extra,
    ]


def test_sweep_runs_every_cell_once_then_skips_them(tmp_path, fake_env, fake_lm_eval_cmd, capsys):
    assert main(_sweep_args(tmp_path, fake_lm_eval_cmd)) == 0
    out = capsys.readouterr().out
    assert "sweep " in out and "6 cells (6 new)" in out
    assert "done  [2] run/checkpoint-100/a+b  a acc=" in out
    assert out.strip().endswith("6 done, 0 skipped, 0 running, 0 errored")
    assert set(_invocations(fake_env).values()) == {1} and len(_invocations(fake_env)) == 6
    done = json.loads((tmp_path / "out/run/checkpoint-200/c/done.json").read_text())
    results = json.loads((tmp_path / "out/run/checkpoint-200/c" / done["results"]).read_text())
    assert done["metrics"][0]["value"] == results["results"]["c"]["acc,none"]

    assert main(["sweep", str(tmp_path / "out")]) == 0  # continue from the manifest: all done
    assert "0 done, 6 skipped" in capsys.readouterr().out
    assert len(fake_env.read_text().splitlines()) == 6  # nothing ran again
    assert main(["status", str(tmp_path / "out")]) == 0
    status = capsys.readouterr().out
    assert "6 cells: 6 done, 0 running, 0 errored, 0 missing" in status
    assert "[5] done     run/checkpoint-200/c  c acc=" in status


def test_failed_cell_is_recorded_and_retried(
    tmp_path, fake_env, fake_lm_eval_cmd, capsys, monkeypatch
):
    monkeypatch.setenv("FAKE_LM_EVAL_FAIL", "checkpoint-100/c")
    assert main(_sweep_args(tmp_path, fake_lm_eval_cmd)) == 1
    out = capsys.readouterr().out
    assert (
        "ERROR [3] run/checkpoint-100/c  lm_eval exited 3: RuntimeError: CUDA out of memory" in out
    )
    failed = json.loads((tmp_path / "out/run/checkpoint-100/c/failed.json").read_text())
    assert failed["returncode"] == 3 and "out of memory" in failed["log_tail"]
    assert main(["status", str(tmp_path / "out")]) == 1
    assert "5 done, 0 running, 1 errored, 0 missing" in capsys.readouterr().out
    monkeypatch.delenv("FAKE_LM_EVAL_FAIL")
    assert main(["sweep", str(tmp_path / "out")]) == 0
    assert "1 done, 5 skipped" in capsys.readouterr().out
    assert not (tmp_path / "out/run/checkpoint-100/c/failed.json").exists()
    assert _invocations(fake_env)["run/checkpoint-100/c"] == 1  # the failing try logs nothing


def test_incomplete_output_is_not_done(tmp_path, fake_env, fake_lm_eval_cmd, capsys, monkeypatch):
    import lm_eval_ext.resume.offline.status as journal_status

    # lm_eval exited 0, but the journal still has errored or missing docs
    monkeypatch.setattr(journal_status, "run_incomplete", lambda out: "checkpoint-0/" in str(out))
    assert main(_sweep_args(tmp_path, fake_lm_eval_cmd)) == 1
    out = capsys.readouterr().out
    assert out.count("ERROR") == 2 and "some docs errored or are missing" in out
    assert not (tmp_path / "out/run/checkpoint-0/c/done.json").exists()


def test_claimed_cells_are_left_to_their_holder(tmp_path, fake_env, fake_lm_eval_cmd, capsys):
    main(_sweep_args(tmp_path, fake_lm_eval_cmd, "--dry-run"))  # plan only
    main(_sweep_args(tmp_path, fake_lm_eval_cmd, "--cell", "0"))  # writes the manifest, runs 0
    capsys.readouterr()
    out = tmp_path / "out"
    manifest = load_manifest(out)
    held = CellClaim(out / manifest.cells[1].dir)
    assert held.try_acquire()
    journal = out / manifest.cells[2].dir / "journal"
    journal.mkdir(parents=True)
    with open(journal / "main.lock", "w") as lock:  # another lm_eval holds this cell's journal
        fcntl.flock(lock, fcntl.LOCK_EX)
        outcomes = run_sweep(out, manifest, progress=False)
    held.release()
    states = {o.cell.index: o.state for o in outcomes}
    assert states == {0: "skipped", 1: "running", 2: "running", 3: "done", 4: "done", 5: "done"}
    assert "journal is in use by pid" in outcomes[2].message
    assert "run/checkpoint-0/c" not in _invocations(fake_env)  # never started: claimed
    assert not (out / manifest.cells[2].dir / "failed.json").exists()
    assert main(["status", str(out)]) == 1
    assert "4 done, 0 running, 0 errored, 2 missing" in capsys.readouterr().out


def test_devices_run_one_cell_per_device_at_a_time(
    tmp_path, fake_env, fake_lm_eval_cmd, monkeypatch
):
    monkeypatch.setenv("FAKE_LM_EVAL_SLEEP", "0.6")
    assert main(_sweep_args(tmp_path, fake_lm_eval_cmd, "--devices", "0,1")) == 0
    runs = [json.loads(line) for line in fake_env.read_text().splitlines()]
    assert Counter(r["env_cuda"] for r in runs) == {"0": 3, "1": 3}
    for device in ("0", "1"):  # never two cells at once on one device
        mine = sorted((r["start"], r["end"]) for r in runs if r["env_cuda"] == device)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(mine))
    overlaps = sum(
        a["start"] < b["end"] and b["start"] < a["end"] for a in runs for b in runs if a is not b
    )
    assert overlaps > 0  # and the two devices did work at the same time


def test_two_sweep_processes_drain_one_manifest_without_running_a_cell_twice(
    tmp_path, fake_env, fake_lm_eval_cmd, capsys
):
    args = _sweep_args(tmp_path, fake_lm_eval_cmd)
    assert main([*args, "--dry-run"]) == 0
    env = {**os.environ, "FAKE_LM_EVAL_SLEEP": "0.4", "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "lm_eval_ext.cli.main", *args]
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    counts = _invocations(fake_env)
    assert len(counts) == 6 and set(counts.values()) == {1}
    ran = [sum(line.startswith("done ") for line in o.splitlines()) for o in outputs]
    assert sum(ran) == 6 and min(ran) >= 1  # both workers did part of the work
    assert main(["status", str(tmp_path / "out")]) == 0


def test_a_shard_with_errored_docs_is_not_done(
    tmp_path, fake_env, fake_lm_eval_cmd, fake_merge_cmd, capsys, monkeypatch
):
    import lm_eval_ext.resume.offline.status as journal_status

    # a shard's journal counts the other shards' docs as missing: only its errors count
    monkeypatch.setattr(journal_status, "run_incomplete", lambda out: "/shards/" in str(out))
    monkeypatch.setattr(journal_status, "run_errored", lambda out: "checkpoint-0/c/" in str(out))
    args = [*_sweep_args(tmp_path, fake_lm_eval_cmd), "--shards", "2"]
    assert main([*args, "--merge_cmd", fake_merge_cmd]) == 1
    out = capsys.readouterr().out
    assert out.count("ERROR") == 2 and "some docs of the shard errored" in out
    assert "ERROR [2] run/checkpoint-0/c/shards/0-of-2" in out
    assert "groups: 5 merged" in out and "1 waiting for shards" in out
    assert not (tmp_path / "out/run/checkpoint-0/c/done.json").exists()
