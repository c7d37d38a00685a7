"""Shard cells (``--shards N``) with stand-ins for lm_eval and ``lm-eval-ext merge``: the
manifest, each shard run once, each group merged exactly once, a missing shard or a failed
merge never leaving partial results where report and package look."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lm_eval_ext.cli.main import main
from lm_eval_ext.errors import SweepError
from lm_eval_ext.report.collect import expected_cells, find_entries, long_table
from lm_eval_ext.report.tables import missing_cells
from lm_eval_ext.submission.runs import find_runs
from lm_eval_ext.sweep import (
    SweepSpec,
    cell_command,
    hub_revisions,
    load_manifest,
    merge_command,
    plan_manifest,
    run_sweep,
    write_manifest,
)
from lm_eval_ext.sweep.cells import CellClaim

LM_EVAL = ["/venv/bin/lm_eval"]
MERGE = ["/venv/bin/lm-eval-ext", "merge"]
GROUPS = ("run/checkpoint-0/a+b", "run/checkpoint-100/a+b")


def _spec(model_args: str = "pretrained=org/base,dtype=bfloat16") -> SweepSpec:
    return SweepSpec("mgm_lora", model_args, [["hellaswag"]], ["/tasks"], ["--limit", "8"])


def _log(path: Path, out: Path) -> Counter:
    """Output folder (relative to OUT) -> invocations, from a stand-in's log."""
    if not path.exists():
        return Counter()
    return Counter(
        Path(json.loads(line)["output_path"]).relative_to(out).as_posix()
        for line in path.read_text().splitlines()
    )


@pytest.fixture()
def logs(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(lm_eval log, merge log) of the stand-ins."""
    monkeypatch.setenv("FAKE_LM_EVAL_LOG", str(tmp_path / "lm_eval.jsonl"))
    monkeypatch.setenv("FAKE_MERGE_LOG", str(tmp_path / "merge.jsonl"))
    return tmp_path / "lm_eval.jsonl", tmp_path / "merge.jsonl"


def _args(tmp_path: Path, fake_lm_eval_cmd: str, fake_merge_cmd: str, *extra: str) -> list[str]:
    for step in (0, 100):
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
        "--lm_eval_cmd",
        fake_lm_eval_cmd,
        "--merge_cmd",
        fake_merge_cmd,
        *extra,
    ]


def _group_results(group: Path) -> list[Path]:
    """Results files of the group itself, outside its shards' folders."""
    return [p for p in group.rglob("results_*.json") if "shards" not in p.relative_to(group).parts]


def test_shard_cells_in_the_manifest_and_their_commands(tmp_path):
    planned = plan_manifest(
        _spec(), hub_revisions("org/base", ["s1"]), LM_EVAL, shards=2, merge_cmd=MERGE
    )
    assert [(c.index, c.name, c.shard, c.shards) for c in planned.cells] == [
        (0, "org__base/s1/hellaswag/shards/0-of-2", 0, 2),
        (1, "org__base/s1/hellaswag/shards/1-of-2", 1, 2),
    ]
    manifest, added = write_manifest(tmp_path, planned)
    assert added == 2 and load_manifest(tmp_path).to_dict() == manifest.to_dict()
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert (data["shards"], data["merge_cmd"]) == (2, MERGE)
    assert (data["cells"][1]["shard"], data["cells"][1]["shards"]) == (1, 2)
    group = json.loads((tmp_path / "org__base/s1/hellaswag/cell.json").read_text())
    assert (group["run"], group["label"], group["shards"], group["shard_cells"]) == (
        "org__base",
        "s1",
        2,
        [0, 1],
    )
    shard = json.loads((tmp_path / "org__base/s1/hellaswag/shards/1-of-2/cell.json").read_text())
    assert (shard["index"], shard["shard"], shard["label"]) == (1, 1, "s1")

    command = cell_command(tmp_path, manifest, manifest.cells[1])
    shard_dir = tmp_path.resolve() / "org__base/s1/hellaswag/shards/1-of-2"
    model_args = command[command.index("--model_args") + 1]
    assert model_args.endswith(f",journal={shard_dir / 'journal'},journal_shard=1/2")
    assert command[command.index("--output_path") + 1] == str(shard_dir)
    assert merge_command(tmp_path, manifest, manifest.cells) == [
        *MERGE,
        "--complete",
        str(shard_dir.with_name("0-of-2")),
        str(shard_dir),
        "--output_path",
        str(tmp_path.resolve() / "org__base/s1/hellaswag"),
    ]

    # a new checkpoint appends its shards; indices never move
    more = plan_manifest(
        _spec(), hub_revisions("org/base", ["s1", "s2"]), LM_EVAL, shards=2, merge_cmd=MERGE
    )
    manifest, added = write_manifest(tmp_path, more)
    assert added == 2
    assert [c.name for c in manifest.cells[2:]] == [
        "org__base/s2/hellaswag/shards/0-of-2",
        "org__base/s2/hellaswag/shards/1-of-2",
    ]
    assert [c.index for c in manifest.cells] == [0, 1, 2, 3]


def test_another_number_of_shards_on_an_existing_out_is_refused(tmp_path):
    write_manifest(tmp_path, plan_manifest(_spec(), hub_revisions("org/base", ["s1"]), LM_EVAL))
    before = (tmp_path / "sweep.json").read_text()
    assert "shard" not in before  # an unsharded manifest has no shard keys
    planned = plan_manifest(_spec(), hub_revisions("org/base", ["s1"]), LM_EVAL, shards=2)
    with pytest.raises(SweepError, match=r"sweep\.json: this sweep was started with --shards 1"):
        write_manifest(tmp_path, planned)
    with pytest.raises(SweepError, match=r"sweep\.json: .*--shards 1, not --shards 4"):
        load_manifest(tmp_path, shards=4)
    assert (tmp_path / "sweep.json").read_text() == before
    assert not (tmp_path / "org__base/s1/hellaswag/shards").exists()
    with pytest.raises(SweepError, match="--shards 0: give at least 1"):
        plan_manifest(_spec(), hub_revisions("org/base", ["s1"]), LM_EVAL, shards=0)
    sharded = plan_manifest(
        _spec("pretrained=org/base,journal_shard=0/2"), hub_revisions("org/base", ["s1"]), LM_EVAL
    )
    with pytest.raises(SweepError, match="journal_shard=: the sweep shards groups itself"):
        cell_command(tmp_path, sharded, sharded.cells[0])


def test_cli_refuses_another_shards_value_naming_the_manifest(
    tmp_path, fake_lm_eval_cmd, fake_merge_cmd, logs, capsys
):
    args = _args(tmp_path, fake_lm_eval_cmd, fake_merge_cmd)
    assert main([*args, "--shards", "2", "--cell", "0"]) == 0
    capsys.readouterr()
    manifest = str(tmp_path / "out" / "sweep.json")
    assert main([*args, "--shards", "3"]) == 2
    assert f"{manifest}: this sweep was started with --shards 2, not --shards 3" in (
        capsys.readouterr().err
    )
    assert main(["sweep", str(tmp_path / "out"), "--shards", "1"]) == 2
    assert "started with --shards 2, not --shards 1" in capsys.readouterr().err
    assert main([*args, "--shards", "3", "--dry-run"]) == 2
    assert "started with --shards 2, not --shards 3" in capsys.readouterr().err
    assert main(args) == 2  # no --shards with checkpoints: a 1-shard sweep, not this one
    assert "not --shards 1" in capsys.readouterr().err
    assert len(load_manifest(tmp_path / "out").cells) == 4


def test_dry_run_prints_shard_commands_then_each_merge(
    tmp_path, fake_lm_eval_cmd, fake_merge_cmd, logs, capsys
):
    assert (
        main(_args(tmp_path, fake_lm_eval_cmd, fake_merge_cmd, "--shards", "2", "--dry-run")) == 0
    )
    lines = [shlex.split(line) for line in capsys.readouterr().out.splitlines()]
    out = (tmp_path / "out").resolve()
    assert [line[line.index("--output_path") + 1] for line in lines] == [
        f"{out}/{GROUPS[0]}/shards/0-of-2",
        f"{out}/{GROUPS[0]}/shards/1-of-2",
        f"{out}/{GROUPS[0]}",
        f"{out}/{GROUPS[1]}/shards/0-of-2",
        f"{out}/{GROUPS[1]}/shards/1-of-2",
        f"{out}/{GROUPS[1]}",
    ]
    assert "journal_shard=1/2" in lines[1][lines[1].index("--model_args") + 1]
    assert lines[2][: len(shlex.split(fake_merge_cmd)) + 1] == [
        *shlex.split(fake_merge_cmd),
        "--complete",
    ]
    assert not (tmp_path / "out").exists()  # nothing written


def test_sharded_sweep_runs_each_shard_once_merges_each_group_once_then_skips(
    tmp_path, fake_lm_eval_cmd, fake_merge_cmd, logs, capsys, monkeypatch
):
    lm_eval_log, merge_log = logs
    monkeypatch.setenv("FAKE_LM_EVAL_SLEEP", "0.4")
    args = _args(tmp_path, fake_lm_eval_cmd, fake_merge_cmd, "--shards", "2", "--devices", "0,1")
    assert main(args) == 0
    printed = capsys.readouterr().out
    out = tmp_path / "out"
    assert _log(lm_eval_log, out) == {f"{g}/shards/{k}-of-2": 1 for g in GROUPS for k in (0, 1)}
    assert _log(merge_log, out) == dict.fromkeys(GROUPS, 1)
    merges = [json.loads(line) for line in merge_log.read_text().splitlines()]
    runs = [json.loads(line) for line in lm_eval_log.read_text().splitlines()]
    for merge in merges:  # after both of its shards
        shards = [r for r in runs if r["output_path"].startswith(merge["output_path"] + "/")]
        assert merge["shards"] == [0, 1] and max(r["end"] for r in shards) <= merge["start"]
    assert "merge [0-1] run/checkpoint-0/a+b  a acc=" in printed
    assert "done  [1] run/checkpoint-0/a+b/shards/1-of-2  shard 1/2" in printed
    assert (
        printed.strip()
        .splitlines()[-1]
        .endswith(
            "4 done, 0 skipped, 0 running, 0 errored; groups: 2 merged, 0 merged before, "
            "0 merging elsewhere, 0 merge errored, 0 waiting for shards"
        )
    )

    # the group's folder holds the merged results and done.json, as an unsharded cell's
    plain = tmp_path / "plain"
    monkeypatch.setenv("FAKE_LM_EVAL_LOG", str(tmp_path / "plain.jsonl"))
    assert main(["sweep", str(plain), *args[2:8]]) == 0  # unsharded, else the same
    monkeypatch.setenv("FAKE_LM_EVAL_LOG", str(lm_eval_log))
    for group in GROUPS:
        done = json.loads((out / group / "done.json").read_text())
        (merged,) = _group_results(out / group)
        assert done["results"] == merged.relative_to(out / group).as_posix()
        assert done["cells"] == ([0, 1] if group == GROUPS[0] else [2, 3])
        (single,) = _group_results(plain / group)
        merged_json, single_json = json.loads(merged.read_text()), json.loads(single.read_text())
        assert merged_json["results"] == single_json["results"]
        assert done["metrics"] == json.loads((plain / group / "done.json").read_text())["metrics"]
        assert merged.parent.name == single.parent.name  # <group>/<model_name_sanitized>/
    capsys.readouterr()

    assert main(["status", str(out)]) == 0
    status = capsys.readouterr().out.splitlines()
    assert status[0].endswith(
        "4 cells: 4 done, 0 running, 0 errored, 0 missing; merges of 2 groups (2 shards each): "
        "2 done, 0 running, 0 errored, 0 missing"
    )
    assert [line.split()[:3] for line in status[1:]] == [
        ["[0]", "done", f"{GROUPS[0]}/shards/0-of-2"],
        ["[1]", "done", f"{GROUPS[0]}/shards/1-of-2"],
        ["[0-1]", "done", GROUPS[0]],
        ["[2]", "done", f"{GROUPS[1]}/shards/0-of-2"],
        ["[3]", "done", f"{GROUPS[1]}/shards/1-of-2"],
        ["[2-3]", "done", GROUPS[1]],
    ]

    assert main(["sweep", str(out)]) == 0  # continue from the manifest: nothing to do
    printed = capsys.readouterr().out
    assert "0 done, 4 skipped, 0 running, 0 errored; groups: 0 merged, 2 merged before" in printed
    assert printed.count("(2 shards, merged before)") == 2  # one line per group
    assert sum(_log(lm_eval_log, out).values()) == 4 and sum(_log(merge_log, out).values()) == 2


def test_a_missing_shard_leaves_its_group_unmerged_and_reported(
    tmp_path, fake_lm_eval_cmd, fake_merge_cmd, logs, capsys, monkeypatch
):
    lm_eval_log, merge_log = logs
    monkeypatch.setenv("FAKE_LM_EVAL_FAIL", f"{GROUPS[1]}/shards/1-of-2")
    args = _args(tmp_path, fake_lm_eval_cmd, fake_merge_cmd, "--shards", "2")
    assert main(args) == 1
    printed = capsys.readouterr().out
    out = tmp_path / "out"
    assert f"ERROR [3] {GROUPS[1]}/shards/1-of-2  lm_eval exited 3" in printed
    assert printed.strip().endswith(
        "3 done, 0 skipped, 0 running, 1 errored; groups: 1 merged, 0 merged before, "
        "0 merging elsewhere, 0 merge errored, 1 waiting for shards"
    )
    assert _log(merge_log, out) == {GROUPS[0]: 1}  # never merged partially
    assert _group_results(out / GROUPS[1]) == []
    assert not (out / GROUPS[1] / "done.json").exists()
    assert list((out / GROUPS[1] / "shards/0-of-2").rglob("results_*.json"))  # shard 0's part

    assert main(["status", str(out)]) == 1
    status = capsys.readouterr().out
    assert "4 cells: 3 done, 0 running, 1 errored, 0 missing" in status
    assert "merges of 2 groups (2 shards each): 1 done, 0 running, 0 errored, 1 missing" in status
    assert f"[3] errored  {GROUPS[1]}/shards/1-of-2  shard 1/2  lm_eval exited 3" in status
    assert f"[2-3] missing  {GROUPS[1]}  1 of 2 shards done: merged when all are done" in status

    # report and package see the merged group only: shard 0's partial results are not results
    entries = find_entries([out])
    assert sorted(e.path.relative_to(out).parts[:2] for e in entries) == [("run", "checkpoint-0")]
    table = long_table(entries)
    missing = missing_cells(table, expected_cells([out]))
    assert set(table["checkpoint"]) == {"checkpoint-0"}
    assert missing.values.tolist() == [
        ["run", "checkpoint-100", "a"],
        ["run", "checkpoint-100", "b"],
    ]
    (merged,) = _group_results(out / GROUPS[0])
    assert [r.label for r in find_runs([out])] == [f"{GROUPS[0]}/{merged.parent.name}"]

    monkeypatch.delenv("FAKE_LM_EVAL_FAIL")
    assert main(["sweep", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"merge [2-3] {GROUPS[1]}" in printed
    assert _log(lm_eval_log, out)[f"{GROUPS[1]}/shards/1-of-2"] == 1  # the failing try logs none
    assert _log(merge_log, out) == dict.fromkeys(GROUPS, 1)
    assert main(["status", str(out)]) == 0


def test_a_failed_merge_is_an_errored_group_without_results(
    tmp_path, fake_lm_eval_cmd, fake_merge_cmd, logs, capsys, monkeypatch
):
    _, merge_log = logs
    monkeypatch.setenv("FAKE_MERGE_FAIL", "checkpoint-0")
    assert main(_args(tmp_path, fake_lm_eval_cmd, fake_merge_cmd, "--shards", "2")) == 1
    printed = capsys.readouterr().out
    out = tmp_path / "out"
    assert (
        f"ERROR [0-1] {GROUPS[0]}  merge failed: lm-eval-ext merge exited 2: lm-eval-ext merge: "
        "error: merge of 2 shard(s) into" in printed
    )
    assert "some docs have no answer; no partial results written" in printed
    assert "groups: 1 merged, 0 merged before, 0 merging elsewhere, 1 merge errored" in printed
    failed = json.loads((out / GROUPS[0] / "failed.json").read_text())
    assert failed["reason"] == "lm-eval-ext merge exited 2" and failed["cells"] == [0, 1]
    assert _group_results(out / GROUPS[0]) == [] and not (out / GROUPS[0] / "done.json").exists()
    assert main(["status", str(out)]) == 1
    assert f"[0-1] errored  {GROUPS[0]}  lm-eval-ext merge exited 2" in capsys.readouterr().out

    # the next sweep (or a Slurm array of what is pending) retries the merge, not the shards
    assert main(["sweep", str(out), "--dry-run"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "--complete" in line and line.endswith(str((out / GROUPS[0]).resolve()))
    monkeypatch.delenv("FAKE_MERGE_FAIL")
    assert main(["sweep", str(out)]) == 0
    assert f"merge [0-1] {GROUPS[0]}" in capsys.readouterr().out
    assert not (out / GROUPS[0] / "failed.json").exists()
    assert sum(_log(merge_log, out).values()) == 2


def test_a_merge_left_by_a_dead_process_is_done_by_the_next_sweep(
    tmp_path, fake_lm_eval_cmd, fake_merge_cmd, logs, capsys
):
    _, merge_log = logs
    args = _args(tmp_path, fake_lm_eval_cmd, fake_merge_cmd, "--shards", "2")
    assert main([*args, "--cell", "0"]) == 0  # writes the manifest
    out = tmp_path / "out"
    manifest = load_manifest(out)
    held = CellClaim(out / GROUPS[0])  # a merge under way elsewhere (or its dead process's)
    assert held.try_acquire()
    outcomes = run_sweep(out, manifest, progress=False)
    held.release()
    assert [(o.cell.index, o.state, o.merged.state) for o in outcomes] == [
        (0, "skipped", "running"),
        (1, "done", "running"),
        (2, "done", "waiting"),
        (3, "done", "done"),
    ]
    assert _log(merge_log, out) == {GROUPS[1]: 1}
    capsys.readouterr()
    assert main(["status", str(out)]) == 1
    assert f"[0-1] missing  {GROUPS[0]}  2 of 2 shards done: merge pending" in (
        capsys.readouterr().out
    )
    assert [line.split()[-1] for line in _dry_run(out, capsys)] == [
        str((out / GROUPS[0]).resolve())
    ]
    assert main(["sweep", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "0 done, 4 skipped" in printed and "groups: 1 merged, 1 merged before" in printed
    assert _log(merge_log, out) == dict.fromkeys(GROUPS, 1)


def _dry_run(out: Path, capsys) -> list[str]:
    assert main(["sweep", str(out), "--dry-run"]) == 0
    return capsys.readouterr().out.splitlines()


def test_two_sweep_processes_merge_each_group_exactly_once(
    tmp_path, fake_lm_eval_cmd, fake_merge_cmd, logs
):
    lm_eval_log, merge_log = logs
    args = _args(tmp_path, fake_lm_eval_cmd, fake_merge_cmd, "--shards", "2")
    assert main([*args, "--dry-run"]) == 0
    env = {
        **os.environ,
        "FAKE_LM_EVAL_SLEEP": "0.4",
        "FAKE_MERGE_SLEEP": "0.4",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    command = [sys.executable, "-m", "lm_eval_ext.cli.main", *args]
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    out = tmp_path / "out"
    assert set(_log(lm_eval_log, out).values()) == {1} and len(_log(lm_eval_log, out)) == 4
    assert _log(merge_log, out) == dict.fromkeys(GROUPS, 1)
    merged = [sum(line.startswith("merge ") for line in o.splitlines()) for o in outputs]
    assert sum(merged) == 2
    assert main(["status", str(out)]) == 0
