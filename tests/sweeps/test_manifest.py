"""The manifest (written once, extended, never rewritten) and each cell's lm_eval command."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pandas as pd
import pytest

from lm_eval_ext.cli.main import main
from lm_eval_ext.errors import SweepError
from lm_eval_ext.sweep import (
    SweepSpec,
    cell_command,
    check_pass_through,
    hub_revisions,
    load_manifest,
    plan_manifest,
    write_manifest,
)
from lm_eval_ext.sweep.sources import CheckpointSpec

LM_EVAL = ["/venv/bin/lm_eval"]


def _spec(model: str = "mgm_lora") -> SweepSpec:
    return SweepSpec(
        model=model,
        model_args="pretrained=org/base,revision=v1,dtype=bfloat16,journal_chunk=8",
        task_groups=[["hellaswag", "arc_easy"], ["mmlu"]],
        include_path=["/tasks"],
        lm_eval_args=["--num_fewshot", "5", "--batch_size", "8"],
    )


def test_cells_are_checkpoints_times_task_groups(tmp_path):
    planned = plan_manifest(_spec(), hub_revisions("org/base", ["step-1", "step-2"]), LM_EVAL)
    assert [(c.index, c.name, c.tasks) for c in planned.cells] == [
        (0, "org__base/step-1/hellaswag+arc_easy", ["hellaswag", "arc_easy"]),
        (1, "org__base/step-1/mmlu", ["mmlu"]),
        (2, "org__base/step-2/hellaswag+arc_easy", ["hellaswag", "arc_easy"]),
        (3, "org__base/step-2/mmlu", ["mmlu"]),
    ]
    manifest, added = write_manifest(tmp_path, planned)
    assert added == 4
    assert load_manifest(tmp_path).to_dict() == manifest.to_dict()
    cell = json.loads((tmp_path / "org__base/step-2/mmlu/cell.json").read_text())
    assert (cell["run"], cell["label"], cell["revision"], cell["step"]) == (
        "org__base",
        "step-2",
        "step-2",
        2,
    )


def test_manifest_is_extended_never_rewritten(tmp_path):
    first = plan_manifest(_spec(), hub_revisions("org/base", ["step-1"]), LM_EVAL)
    write_manifest(tmp_path, first)
    created = load_manifest(tmp_path).created
    more = plan_manifest(_spec(), hub_revisions("org/base", ["step-1", "step-3"]), LM_EVAL)
    manifest, added = write_manifest(tmp_path, more)
    assert added == 2
    assert [c.name for c in manifest.cells] == [
        "org__base/step-1/hellaswag+arc_easy",
        "org__base/step-1/mmlu",
        "org__base/step-3/hellaswag+arc_easy",
        "org__base/step-3/mmlu",
    ]
    assert load_manifest(tmp_path).created == created
    assert write_manifest(tmp_path, more)[1] == 0
    other = SweepSpec(**{**_spec().__dict__, "lm_eval_args": ["--num_fewshot", "0"]})
    with pytest.raises(SweepError, match="started with lm_eval_args=.*use another OUT"):
        write_manifest(tmp_path, plan_manifest(other, hub_revisions("org/base", ["x"]), LM_EVAL))
    with pytest.raises(SweepError, match="no sweep here"):
        load_manifest(tmp_path / "elsewhere")
    with pytest.raises(SweepError, match="--cell 9: the manifest has cells 0..3"):
        manifest.cell(9)


def test_commands_set_the_checkpoint_and_a_journal_per_cell(tmp_path):
    specs = [
        CheckpointSpec("org__base", "step-1", "revision", "org/base", revision="step-1"),
        CheckpointSpec("r", "checkpoint-5", "local", "/ck/r/checkpoint-5", step=5),
        CheckpointSpec("org__base+lora", "checkpoint-7", "adapter", "org/base", adapter="/l/c7"),
    ]
    manifest = plan_manifest(_spec(), specs, LM_EVAL)
    out = tmp_path.resolve()
    commands = [cell_command(tmp_path, manifest, c) for c in manifest.cells[::2]]
    args = [c[c.index("--model_args") + 1] for c in commands]
    assert args == [
        f"pretrained=org/base,revision=step-1,dtype=bfloat16,journal_chunk=8,"
        f"journal={out}/org__base/step-1/hellaswag+arc_easy/journal",
        f"pretrained=/ck/r/checkpoint-5,dtype=bfloat16,journal_chunk=8,"
        f"journal={out}/r/checkpoint-5/hellaswag+arc_easy/journal",
        f"pretrained=org/base,revision=v1,lora=/l/c7,dtype=bfloat16,journal_chunk=8,"
        f"journal={out}/org__base+lora/checkpoint-7/hellaswag+arc_easy/journal",
    ]
    assert commands[0] == [
        *LM_EVAL,
        "--model",
        "mgm_lora",
        "--model_args",
        args[0],
        "--tasks",
        "hellaswag,arc_easy",
        "--include_path",
        "/tasks",
        "--num_fewshot",
        "5",
        "--batch_size",
        "8",
        "--log_samples",
        "--output_path",
        f"{out}/org__base/step-1/hellaswag+arc_easy",
    ]
    # any backend: the adapter goes to lm-eval's own peft= for hf
    hf = plan_manifest(_spec("hf"), specs, LM_EVAL)
    assert "peft=/l/c7" in cell_command(tmp_path, hf, hf.cells[4])[4]
    assert cell_command(tmp_path, hf, hf.cells[4], ["srun", "lm_eval"])[:3] == [
        "srun",
        "lm_eval",
        "--model",
    ]


@pytest.mark.parametrize("bad", [["--output_path", "x"], ["--log_samples"], ["--model=hf"]])
def test_options_the_sweep_sets_are_refused(bad):
    with pytest.raises(SweepError, match="the sweep sets this lm_eval option"):
        check_pass_through(bad)


def test_dry_run_prints_commands_and_writes_nothing(tmp_path, capsys):
    for step in (1, 2):
        (tmp_path / "run" / f"checkpoint-{step}").mkdir(parents=True)
        (tmp_path / "run" / f"checkpoint-{step}" / "config.json").write_text("{}")
    out = tmp_path / "out"
    code = main(
        [
            "sweep",
            str(out),
            "--checkpoints",
            str(tmp_path / "run" / "checkpoint-*"),
            "--tasks",
            "ext_sample_mc",
            "--model_args",
            "dtype=float32",
            "--device",
            "cpu",
            "--lm_eval_cmd",
            "lm_eval",
            "--dry-run",
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    argv = shlex.split(lines[1])
    assert argv[:3] == ["lm_eval", "--model", "mgm_lora"]
    assert argv[argv.index("--output_path") + 1] == str(
        out.resolve() / "run/checkpoint-2/ext_sample_mc"
    )
    assert "--device" in argv
    assert not out.exists()
    named = [
        "sweep",
        str(out),
        "--checkpoints",
        str(tmp_path / "run" / "checkpoint-*"),
        "--tasks",
        "t",
        "--name",
        "mine",
        "--dry-run",
        "--lm_eval_cmd",
        "lm_eval",
    ]
    assert main(named) == 0
    assert f"{out.resolve()}/mine/checkpoint-1/t" in capsys.readouterr().out
    assert main(["sweep", str(out), "--tasks", "x"]) == 2  # tasks but no checkpoints
    assert "no checkpoints given" in capsys.readouterr().err


def test_long_task_groups_get_short_unique_folders():
    from lm_eval_ext.sweep.manifest import group_name

    many = [f"mmlu_subject_number_{i}" for i in range(30)]
    name = group_name(many)
    assert len(name) < 80 and name.startswith("mmlu_subject_number_0+29-more-")
    assert group_name(many) != group_name(many[:-1])
    assert Path(group_name(["a", "b"])).name == "a+b"


def test_demo_sweep_command_sweeps_the_trained_run_and_compares_lora_with_base(
    trained_world, tmp_path, fake_lm_eval_cmd, capsys
):
    shutil.copytree(trained_world.root, tmp_path / "demo" / "models")  # reused: built already
    code = main(
        ["demo-sweep", str(tmp_path / "demo"), "--devices", "0", "--lm_eval_cmd", fake_lm_eval_cmd]
    )
    assert code == 0
    out = capsys.readouterr().out
    manifest = load_manifest(tmp_path / "demo" / "sweep")
    assert [c.name for c in manifest.cells] == [
        "tiny-run/checkpoint-0/demo_kind+demo_kind_new",
        "tiny-run/checkpoint-40/demo_kind+demo_kind_new",
        "tiny-run/checkpoint-80/demo_kind+demo_kind_new",
        "tiny-run/checkpoint-120/demo_kind+demo_kind_new",
        "tiny-run+lora/base/demo_kind+demo_kind_new",
        "tiny-run+lora/checkpoint-15/demo_kind+demo_kind_new",
        "tiny-run+lora/checkpoint-30/demo_kind+demo_kind_new",
    ]
    table = pd.read_csv(tmp_path / "demo" / "report" / "results_long.csv")
    curve = table[
        (table["run"] == "tiny-run") & (table["task"] == "demo_kind") & (table["metric"] == "acc")
    ]
    points = ", ".join(f"{s}: {v:.3f}" for s, v in zip(curve["step"], curve["value"], strict=True))
    assert f"learning curve, tiny-run, demo_kind acc (chance 0.25): {points}" in out
    assert "tiny-run+lora@checkpoint-30 vs tiny-run+lora@base, demo_kind_new acc:" in out
    assert (tmp_path / "demo" / "report" / "report.html").is_file()
