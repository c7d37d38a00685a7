"""Steps and tokens from checkpoint names (every scheme of the module table), runs and labels."""

from __future__ import annotations

import pytest

from lm_eval_ext.checkpoints.naming import (
    CheckpointName,
    checkpoint_label,
    parse_checkpoint_name,
    parse_count,
    run_name,
    safe_name,
)


@pytest.mark.parametrize(
    ("name", "step", "tokens"),
    [
        ("step-125000", 125000, None),  # SmolLM2-1.7B-intermediate-checkpoints
        ("step143000", 143000, None),  # Pythia
        ("step0", 0, None),
        ("stage1-step20000-tokens84B", 20000, 84_000_000_000),  # OLMo 2
        ("step1000-tokens4B", 1000, 4_000_000_000),  # OLMo 1
        ("stage2-ingredient1-step11931-tokens100B", 11931, 100_000_000_000),
        ("chck_10M", None, 10_000_000),  # BabyLM (words, reported as tokens)
        ("chck_1.5M", None, 1_500_000),
        ("checkpoint-500", 500, None),  # transformers Trainer
        ("/runs/a/checkpoint-500/", 500, None),  # a path: its last component
        ("global_step500", 500, None),  # DeepSpeed
        ("iter_0001000", 1000, None),  # Megatron-LM
        ("ckpt-500", 500, None),
        ("ckpt_7", 7, None),
        ("tokens2T", None, 2_000_000_000_000),
        ("main", None, None),
        ("base", None, None),
        ("steps-are-fun", None, None),
        ("checkpoint-best", None, None),
    ],
)
def test_parse_checkpoint_name(name, step, tokens):
    assert parse_checkpoint_name(name) == CheckpointName(step=step, tokens=tokens)


def test_parse_count_units():
    assert parse_count("84", "B") == 84 * 10**9
    assert parse_count("1.5", "k") == 1500
    assert parse_count("3", "G") == 3 * 10**9
    assert parse_count("42") == 42


def test_safe_name_keeps_revisions_apart():
    assert safe_name("org/name") == "org__name"
    assert safe_name("feature/step-1") == "feature__step-1"
    assert safe_name("a b:c") == "a_b_c"
    assert safe_name("step-1") != safe_name("step-10")


def test_run_and_label_of_each_source(tmp_path, monkeypatch):
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    assert run_name("HuggingFaceTB/SmolLM2-1.7B") == "HuggingFaceTB__SmolLM2-1.7B"
    assert checkpoint_label("EleutherAI/pythia-70m", "step143000") == "step143000"
    assert checkpoint_label("EleutherAI/pythia-70m", "main") == "main"
    assert run_name("/x/run7/checkpoint-50") == "run7"
    assert checkpoint_label("/x/run7/checkpoint-50") == "checkpoint-50"
    assert run_name("/x/my-model") == "my-model"
    assert checkpoint_label("/x/my-model") == "main"
    # a relative path with one slash is a directory when it exists, else a hub id
    monkeypatch.chdir(tmp_path)
    assert run_name("models/tiny") == "tiny"
    assert run_name("models/other") == "models__other"
    assert run_name("/x/run7/checkpoint-50", "/y/lora/checkpoint-20") == "run7+lora"
    assert (
        checkpoint_label("/x/run7/checkpoint-50", None, "/y/lora/checkpoint-20") == "checkpoint-20"
    )
