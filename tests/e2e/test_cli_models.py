"""The plain ``lm_eval`` CLI finds and runs ``mgm_lora`` (subprocess, tiny offline model)."""

from __future__ import annotations

import pytest
import torch
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from tests.support.lm_eval_runs import read_results, read_samples, run_lm_eval

pytestmark = pytest.mark.e2e

TASK = "ext_sample_mc"


def _cli_args(tasks_dir, model: str, model_args: str, out) -> list[str]:
    return [
        "--include_path",
        str(tasks_dir),
        "--tasks",
        TASK,
        "--model",
        model,
        "--model_args",
        model_args,
        "--device",
        "cpu",
        "--batch_size",
        "4",
        "--log_samples",
        "--output_path",
        str(out),
    ]


def _loglikelihoods(samples: list[dict]) -> list[float]:
    return [float(resp[0][0]) for s in samples for resp in s["resps"]]


def test_run_subcommand_with_lora_matches_unmerged_peft(tiny_world, tasks_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_args = f"pretrained={tiny_world.model_dir},lora={tiny_world.lora_dir},dtype=float32"
    # `lm-eval run ...` spelling, started from an unrelated working directory, indexing lm-eval's
    # built-in tasks itself (tests/support/site/lm_eval_index_cache.py off)
    run_lm_eval(
        ["run", *_cli_args(tasks_dir, "mgm_lora", model_args, tmp_path / "out")],
        cwd=tmp_path,
        env={"LM_EVAL_EXT_TEST_INDEX_CACHE": "0"},
    )
    results = read_results(tmp_path / "out")
    assert results["config"]["model"] == "mgm_lora"
    samples = read_samples(tmp_path / "out", TASK)
    assert len(samples) == 20

    requests = [
        Instance("loglikelihood", s["doc"], (a["arg_0"], a["arg_1"]), i)
        for s in samples
        for i, a in enumerate(s["arguments"].values())
    ]
    tokenizer = AutoTokenizer.from_pretrained(tiny_world.model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_world.model_dir, dtype=torch.float32)
    plain = [
        ll
        for ll, _ in HFLM(pretrained=base, tokenizer=tokenizer, batch_size=4).loglikelihood(
            requests
        )
    ]
    unmerged = PeftModel.from_pretrained(base, str(tiny_world.lora_dir)).eval()
    reference = [
        ll
        for ll, _ in HFLM(pretrained=unmerged, tokenizer=tokenizer, batch_size=4).loglikelihood(
            requests
        )
    ]

    ours = _loglikelihoods(samples)
    assert len(ours) == len(reference) == 80
    assert max(abs(a - b) for a, b in zip(ours, reference, strict=True)) < 1e-4
    assert max(abs(a - b) for a, b in zip(ours, plain, strict=True)) > 1e-2
