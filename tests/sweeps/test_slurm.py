"""Slurm without a cluster: fake ``sbatch``/``squeue`` on PATH that record and run what they get."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from lm_eval_ext.cli.main import main
from lm_eval_ext.sweep import load_manifest
from lm_eval_ext.sweep.slurm import array_spec

FAKE_SBATCH = """#!{python}
# Fake sbatch: record the call, run every task of the script's --array in turn (output to the
# script's --output file, as Slurm does), print a job id.
import json, os, re, subprocess, sys
script = sys.argv[-1]
text = open(script).read()
spec = re.search(r"^#SBATCH --array=(\\S+)", text, re.M).group(1)
output = re.search(r"^#SBATCH --output=(\\S+)", text, re.M).group(1)
ranges, _, limit = spec.partition("%")
tasks = []
for part in ranges.split(","):
    first, _, last = part.partition("-")
    tasks += range(int(first), int(last or first) + 1)
codes = {{}}
for task in tasks:
    env = dict(os.environ, SLURM_ARRAY_JOB_ID="4242", SLURM_ARRAY_TASK_ID=str(task))
    log = output.replace("%A", "4242").replace("%a", str(task))
    with open(log, "a") as fh:
        codes[task] = subprocess.run(["bash", script], env=env, stdout=fh, stderr=fh).returncode
with open(os.environ["FAKE_SLURM_LOG"], "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:], "tasks": tasks, "limit": limit,
                         "codes": codes}}) + "\\n")
print("4242")
"""
FAKE_SQUEUE = """#!{python}
# Fake squeue: record the call, print $FAKE_SQUEUE_OUTPUT.
import os, sys
with open(os.environ["FAKE_SLURM_LOG"] + ".squeue", "a") as fh:
    fh.write(" ".join(sys.argv[1:]) + "\\n")
print(os.environ.get("FAKE_SQUEUE_OUTPUT", ""))
"""


@pytest.fixture()
def fake_slurm(tmp_path, monkeypatch) -> Path:
    """``sbatch`` and ``squeue`` stand-ins first on PATH; returns their call log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("squeue", FAKE_SQUEUE)):
        (bin_dir / name).write_text(text.format(python=sys.executable))
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("PYTHONPATH", ":".join(sys.path))
    monkeypatch.setenv("FAKE_SLURM_LOG", str(tmp_path / "slurm.jsonl"))
    monkeypatch.setenv("FAKE_LM_EVAL_LOG", str(tmp_path / "lm_eval.jsonl"))
    return tmp_path / "slurm.jsonl"


def _args(tmp_path: Path, fake_lm_eval_cmd: str, *extra: str) -> list[str]:
    for step in (0, 100, 200):
        path = tmp_path / "ck" / "run" / f"checkpoint-{step}"
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text("{}")
    return [
        "sweep",
        str(tmp_path / "out"),
        "--checkpoints",
        str(tmp_path / "ck/run/checkpoint-*"),
        "--tasks",
        "a,b",
        "--tasks",
        "c",
        "--lm_eval_cmd",
        fake_lm_eval_cmd,
        *extra,
    ]


def test_array_spec_compresses_indices():
    assert array_spec([0, 1, 2, 5, 7, 8], 4) == "0-2,5,7-8%4"
    assert array_spec([3]) == "3"


def test_script_lists_one_array_task_per_cell(tmp_path, fake_lm_eval_cmd, capsys):
    code = main(
        _args(
            tmp_path,
            fake_lm_eval_cmd,
            "--slurm",
            "--slurm_parallelism",
            "2",
            "--slurm_option=--gres=gpu:1",
            "--slurm_option=--time=02:00:00",
        )
    )
    assert code == 0
    path = Path(re.search(r"wrote (\S+) \(6 cells\)", capsys.readouterr().out).group(1))
    script = path.read_text()
    out = (tmp_path / "out").resolve()
    assert "#SBATCH --array=0-5%2\n" in script
    for line in (
        "#SBATCH --requeue",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --time=02:00:00",
        f"#SBATCH --output={out}/slurm/logs/%A_%a.log",
    ):
        assert line + "\n" in script
    manifest = load_manifest(out)
    listed = re.findall(r"^#   (\d+)\s+(\S+)$", script, re.M)
    assert listed == [(str(c.index), c.name) for c in manifest.cells]
    last = script.strip().splitlines()[-1]
    assert last.startswith(f"exec {sys.executable} -m lm_eval_ext.cli.main sweep {out} ")
    assert last.endswith('--cell "$SLURM_ARRAY_TASK_ID"') and "--lm_eval_cmd" in last
    assert not list((tmp_path / "out").rglob("done.json"))  # written, not run


def test_submitted_array_runs_every_cell_and_resubmits_only_the_rest(
    tmp_path, fake_lm_eval_cmd, fake_slurm, capsys, monkeypatch
):
    monkeypatch.setenv("FAKE_LM_EVAL_FAIL", "checkpoint-200/a+b")  # one task fails (OOM)
    assert main(_args(tmp_path, fake_lm_eval_cmd, "--submit", "--slurm_parallelism", "3")) == 0
    assert "submitted job array 4242: 6 cells" in capsys.readouterr().out
    calls = [json.loads(line) for line in fake_slurm.read_text().splitlines()]
    assert calls[0]["argv"][0] == "--parsable" and calls[0]["tasks"] == [0, 1, 2, 3, 4, 5]
    assert calls[0]["limit"] == "3"
    assert calls[0]["codes"] == {"0": 0, "1": 0, "2": 0, "3": 0, "4": 1, "5": 0}
    out = tmp_path / "out"
    assert json.loads((out / "slurm" / "jobs.jsonl").read_text())["job_id"] == "4242"
    monkeypatch.setenv("FAKE_SQUEUE_OUTPUT", "4242_4|PENDING")
    assert main(["status", str(out)]) == 1
    status = capsys.readouterr().out
    assert "5 done, 0 running, 1 errored, 0 missing" in status
    assert "slurm jobs 4242: 1 PENDING" in status
    assert "--jobs=4242" in Path(str(fake_slurm) + ".squeue").read_text()
    assert "ERROR [4] run/checkpoint-200/a+b" in (out / "slurm/logs/4242_4.log").read_text()

    monkeypatch.delenv("FAKE_LM_EVAL_FAIL")
    assert main(["sweep", str(out), "--submit", "--lm_eval_cmd", fake_lm_eval_cmd]) == 0
    calls = [json.loads(line) for line in fake_slurm.read_text().splitlines()]
    assert calls[1]["tasks"] == [4]  # only the cell not done
    assert main(["status", str(out)]) == 0
    assert main(["sweep", str(out), "--submit"]) == 2
    assert "no cell left to submit" in capsys.readouterr().err
    lm_eval_runs = [
        json.loads(line) for line in (tmp_path / "lm_eval.jsonl").read_text().splitlines()
    ]
    assert len(lm_eval_runs) == 6  # a requeued or resubmitted task never reruns a done cell
    assert main(["sweep", str(out), "--cell", "0"]) == 0  # as a requeued task would
    assert len((tmp_path / "lm_eval.jsonl").read_text().splitlines()) == 6


def test_submitit_runs_each_pending_cell_as_a_job(tmp_path, fake_lm_eval_cmd, fake_slurm):
    pytest.importorskip("submitit")
    from lm_eval_ext.sweep import submit_with_submitit

    assert main(_args(tmp_path, fake_lm_eval_cmd, "--cell", "0")) == 0
    jobs = submit_with_submitit(tmp_path / "out", cluster="debug")
    outcomes = [job.result() for job in jobs]
    assert [o.cell.index for o in outcomes] == [1, 2, 3, 4, 5]
    assert {o.state for o in outcomes} == {"done"}
    assert submit_with_submitit(tmp_path / "out", cluster="debug") == []


def test_sharded_array_merges_each_group_once_and_resubmits_only_a_failed_merge(
    tmp_path, fake_lm_eval_cmd, fake_merge_cmd, fake_slurm, capsys, monkeypatch
):
    merge_log = tmp_path / "merge.jsonl"
    monkeypatch.setenv("FAKE_MERGE_LOG", str(merge_log))
    monkeypatch.setenv("FAKE_MERGE_FAIL", "checkpoint-100/c")
    args = _args(tmp_path, fake_lm_eval_cmd, "--shards", "2", "--merge_cmd", fake_merge_cmd)
    assert main([*args, "--submit"]) == 0
    assert "submitted job array 4242: 12 cells" in capsys.readouterr().out
    out = tmp_path / "out"
    script = sorted((out / "slurm").glob("sweep-*.sbatch"))[-1].read_text()
    assert "# shard cells: after its shard, a task merges its group's shards" in script
    assert "--merge_cmd" in script.strip().splitlines()[-1]
    calls = [json.loads(line) for line in fake_slurm.read_text().splitlines()]
    codes = calls[0]["codes"]
    assert [i for i, code in codes.items() if code != 0] == ["7"]  # the last shard of the group
    merged = [json.loads(line)["output_path"] for line in merge_log.read_text().splitlines()]
    groups = {c.group_dir for c in load_manifest(out).cells}
    assert sorted(merged) == sorted(str(out.resolve() / g) for g in groups if "100/c" not in str(g))
    assert "merge failed: lm-eval-ext merge exited 2" in (out / "slurm/logs/4242_7.log").read_text()
    assert main(["status", str(out)]) == 1
    assert "merges of 6 groups (2 shards each): 5 done, 0 running, 1 errored" in (
        capsys.readouterr().out
    )

    monkeypatch.delenv("FAKE_MERGE_FAIL")
    assert main(["sweep", str(out), "--submit"]) == 0
    calls = [json.loads(line) for line in fake_slurm.read_text().splitlines()]
    assert calls[1]["tasks"] == [6] and calls[1]["codes"] == {"6": 0}  # the group's first shard
    lm_eval_runs = (tmp_path / "lm_eval.jsonl").read_text().splitlines()
    assert len(lm_eval_runs) == 12  # no shard ran again; only the merge
    assert len(merge_log.read_text().splitlines()) == 6
    assert main(["status", str(out)]) == 0
