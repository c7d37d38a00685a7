"""mgm_lora in-process: parity with ``hf``, a really merged adapter, clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from lm_eval_ext.demo.tiny_world import build_lora_adapter, build_tiny_causal_lm
from lm_eval_ext.errors import AdapterMismatchError, CheckpointError, ModelArgsError
from lm_eval_ext.models.mgm_lora import MGMLoRALM
from tests.support.lm_eval_runs import evaluate_and_save, read_samples

LL_REQUESTS = [
    ("Question: What is the capital of France?\nAnswer:", " Paris"),
    ("Question: What is the capital of France?\nAnswer:", " the city of light"),
    ("The table has", " 12 rows and 3 columns."),
    ("", "A sentence with no context at all."),
]
ROLLING_TEXTS = ["The red cat sat on the old tree because the sun was hot. " * 3]
GEN_REQUESTS = [
    (
        "Question: What is the capital of France?\nAnswer:",
        {"until": ["\n"], "max_gen_toks": 6, "do_sample": False},
    )
]


def _instances(kind: str, args_list: list[tuple]) -> list[Instance]:
    return [
        Instance(request_type=kind, doc={}, arguments=args, idx=i)
        for i, args in enumerate(args_list)
    ]


def _lls(lm, requests=LL_REQUESTS) -> list[tuple[float, bool]]:
    return lm.loglikelihood(_instances("loglikelihood", requests), disable_tqdm=True)


def _common() -> dict:
    return {"device": "cpu", "dtype": "float32", "batch_size": 2}


@pytest.fixture(scope="module")
def base_lm(tiny_world):
    return HFLM(pretrained=str(tiny_world.model_dir), **_common())


@pytest.fixture(scope="module")
def merged_lm(tiny_world):
    return MGMLoRALM(
        pretrained=str(tiny_world.model_dir), lora=str(tiny_world.lora_dir), **_common()
    )


def test_fresh_interpreter_resolves_ours_and_builtins():
    code = (
        "from lm_eval.api.registry import get_model\n"
        "print(*(get_model(m).__name__ for m in ('mgm_lora', 'hf', 'dummy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["MGMLoRALM", "HFLM", "DummyLM"]


def _assert_close(ours: list, ref: list, tol: float = 1e-4) -> None:
    """Same greedy flags, log-probs equal up to float32 summation order (KV-cache scoring)."""
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref, strict=True):
        a, b = (a, None) if isinstance(a, float) else a, (b, None) if isinstance(b, float) else b
        assert abs(a[0] - b[0]) < tol and a[1] == b[1], (a, b)


def test_without_lora_behaves_like_hf(tiny_world, base_lm):
    ours = MGMLoRALM(pretrained=str(tiny_world.model_dir), **_common())
    _assert_close(_lls(ours), _lls(base_lm))
    rolling = _instances("loglikelihood_rolling", [(t,) for t in ROLLING_TEXTS])
    _assert_close(
        ours.loglikelihood_rolling(rolling, disable_tqdm=True),
        base_lm.loglikelihood_rolling(rolling, disable_tqdm=True),
    )
    gen = _instances("generate_until", GEN_REQUESTS)
    assert ours.generate_until(gen, disable_tqdm=True) == base_lm.generate_until(
        gen, disable_tqdm=True
    )


def _sample_lls(samples: list[dict]) -> list[float]:
    return [float(resp[0][0]) for s in samples for resp in s["resps"]]


def test_mgm_lora_without_adapter_matches_hf(tiny_world, tasks_dir, tmp_path):
    """Without an adapter ``mgm_lora`` is ``hf``: same metrics, same loglikelihoods (in-process;
    the CLI's own run of ``mgm_lora`` is in tests/e2e/test_cli_models.py)."""
    model_args = {"pretrained": str(tiny_world.model_dir), "dtype": "float32"}
    task = "ext_sample_mc"
    results = {
        model: evaluate_and_save(model_args, [task], tasks_dir, tmp_path / model, model=model)
        for model in ("hf", "mgm_lora")
    }
    hf, ours = (results[m]["results"][task] for m in ("hf", "mgm_lora"))
    assert ours["acc,none"] == hf["acc,none"]
    assert ours["acc_norm,none"] == hf["acc_norm,none"]
    ours_ll = _sample_lls(read_samples(tmp_path / "mgm_lora", task))
    hf_ll = _sample_lls(read_samples(tmp_path / "hf", task))
    assert len(ours_ll) == len(hf_ll) == 80
    # equal up to float32 summation order: mgm_lora scores a shared context once (KV cache)
    assert max(abs(a - b) for a, b in zip(ours_ll, hf_ll, strict=True)) < 1e-4


def test_lora_is_merged_and_matches_unmerged_peft(tiny_world, base_lm, merged_lm):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # really merged: a plain transformers model, no LoRA modules left
    assert not isinstance(merged_lm.model, PeftModel)
    assert not any("lora_" in name for name, _ in merged_lm.model.named_parameters())

    base = AutoModelForCausalLM.from_pretrained(tiny_world.model_dir, dtype=torch.float32)
    unmerged = PeftModel.from_pretrained(base, str(tiny_world.lora_dir)).eval()
    reference = HFLM(
        pretrained=unmerged,
        tokenizer=AutoTokenizer.from_pretrained(tiny_world.model_dir),
        batch_size=2,
    )
    ours, ref, plain = _lls(merged_lm), _lls(reference), _lls(base_lm)
    assert max(abs(a[0] - b[0]) for a, b in zip(ours, ref, strict=True)) < 1e-4
    assert [a[1] for a in ours] == [b[1] for b in ref]
    assert (
        min(abs(a[0] - c[0]) for a, c in zip(ours, plain, strict=True)) > 1e-3
    )  # the adapter matters


def test_model_info_records_adapter(tiny_world, merged_lm):
    assert merged_lm.get_model_info()["lora"] == str(tiny_world.lora_dir)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"lorra": "x"}, ModelArgsError, "did you mean 'lora'"),
        ({"peft": "x"}, ModelArgsError, "instead of peft="),
    ],
)
def test_bad_model_args(tiny_world, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        MGMLoRALM(pretrained=str(tiny_world.model_dir), **_common(), **kwargs)


def test_missing_and_empty_pretrained_dir(tmp_path):
    with pytest.raises(CheckpointError, match=f"pretrained={tmp_path / 'nope'}: no such directory"):
        MGMLoRALM(pretrained=str(tmp_path / "nope"), **_common())
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="directory is empty"):
        MGMLoRALM(pretrained=str(tmp_path / "empty"), **_common())
    (tmp_path / "weights_only").mkdir()
    (tmp_path / "weights_only" / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="no config.json"):
        MGMLoRALM(pretrained=str(tmp_path / "weights_only"), **_common())


def test_adapter_dir_without_config(tiny_world, tmp_path):
    broken = tmp_path / "adapter"
    shutil.copytree(tiny_world.lora_dir, broken)
    (broken / "adapter_config.json").unlink()
    with pytest.raises(CheckpointError, match=f"lora={broken}: no adapter_config.json"):
        MGMLoRALM(pretrained=str(tiny_world.model_dir), lora=str(broken), **_common())


@pytest.fixture(scope="module")
def other_base_adapter(tiny_world, tmp_path_factory):
    """An adapter trained on a base with another hidden size (shape mismatch)."""
    root = tmp_path_factory.mktemp("other_base")
    other = build_tiny_causal_lm(root / "base", tiny_world.tokenizer_dir, hidden_size=32, seed=3)
    return build_lora_adapter(other, root / "adapter")


def test_adapter_for_another_base_shape_mismatch(tiny_world, other_base_adapter):
    with pytest.raises(
        AdapterMismatchError, match=f"lora={other_base_adapter}: the adapter does not fit"
    ):
        MGMLoRALM(pretrained=str(tiny_world.model_dir), lora=str(other_base_adapter), **_common())


def test_adapter_with_missing_target_modules(tiny_world, tmp_path):
    foreign = tmp_path / "adapter"
    shutil.copytree(tiny_world.lora_dir, foreign)
    cfg = json.loads((foreign / "adapter_config.json").read_text())
    cfg["target_modules"] = ["query_key_value"]  # a GPT-NeoX module name, absent in Llama
    (foreign / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(AdapterMismatchError, match=f"lora={foreign}"):
        MGMLoRALM(pretrained=str(tiny_world.model_dir), lora=str(foreign), **_common())


@pytest.mark.parametrize("wrapper", ["MGMLoRALM", "QwenVLLM"])
def test_journal_args_in_a_constructor_fail_clearly(tiny_world, tmp_path, wrapper):
    """Journal args switch the resume layer on at model creation, never in a constructor."""
    from lm_eval_ext.models.qwen_vl import QwenVLLM

    cls = {"MGMLoRALM": MGMLoRALM, "QwenVLLM": QwenVLLM}[wrapper]
    with pytest.raises(ModelArgsError) as info:
        cls(
            pretrained=str(tiny_world.model_dir),
            journal=str(tmp_path / "j"),
            journal_chunk=8,
            **_common(),
        )
    message = str(info.value)
    assert f"journal=, journal_chunk= passed to the {wrapper}(...) constructor" in message
    assert "switch the resume layer on at model creation" in message
    assert "MGMLoRALM.create_from_arg_obj({'pretrained': ..., 'journal': DIR})" in message
    assert "lm_eval.simple_evaluate(model='mgm_lora'" in message
    assert not (tmp_path / "j").exists()


def test_create_from_arg_obj_with_journal_returns_a_journaled_model(tiny_world, tmp_path):
    from lm_eval_ext.resume import close_open_journals

    journal = tmp_path / "journal"
    lm = MGMLoRALM.create_from_arg_obj(
        {
            "pretrained": str(tiny_world.model_dir),
            "lora": str(tiny_world.lora_dir),
            "journal": str(journal),
            **_common(),
        }
    )
    try:
        assert type(lm).__name__ == "JournaledLM"
        assert type(lm.lm) is MGMLoRALM
        assert lm.lm.get_model_info()["lora"] == str(tiny_world.lora_dir)
        assert list(journal.glob("model-*.json"))  # the journal recorded the model's identity
    finally:
        close_open_journals()
