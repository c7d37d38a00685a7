"""merged_cache=DIR: saved once, reused, invalidated by a changed adapter, loadable by ``hf``.

The Qwen-VL cache's processor files and ``hf-multimodal`` loading: test_merged_cache_processor.
"""

from __future__ import annotations

import json
import shutil

import pytest
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from transformers import AutoTokenizer

from lm_eval_ext.checkpoints.hashing import default_cache_file
from lm_eval_ext.demo.tiny_world import build_lora_adapter
from lm_eval_ext.models.merged_cache import MANIFEST
from lm_eval_ext.models.mgm_lora import MGMLoRALM
from lm_eval_ext.models.processor_files import processor_files
from tests.support.file_opens import record_opens

COMMON = {"device": "cpu", "dtype": "float32", "batch_size": 2}
REQS = [
    ("Question: What is the capital of France?\nAnswer:", " Paris"),
    ("The table has", " 12 rows and 3 columns."),
]


def _lls(lm):
    inst = [Instance("loglikelihood", {}, r, i) for i, r in enumerate(REQS)]
    return [x[0] for x in lm.loglikelihood(inst, disable_tqdm=True)]


def test_causal_cache_saved_reused_and_loadable_by_hf(tiny_world, tmp_path):
    cache = tmp_path / "merged"
    args = {
        "pretrained": str(tiny_world.model_dir),
        "lora": str(tiny_world.lora_dir),
        "merged_cache": str(cache),
        **COMMON,
    }
    first = MGMLoRALM.create_from_arg_obj(args)
    assert (cache / MANIFEST).is_file() and (cache / "model.safetensors").is_file()
    stamp = (cache / MANIFEST).stat().st_mtime_ns
    second = MGMLoRALM.create_from_arg_obj(args)
    assert (cache / MANIFEST).stat().st_mtime_ns == stamp  # reused, not rewritten
    hf = HFLM(pretrained=str(cache), **COMMON)
    expected = _lls(first)
    assert _lls(second) == pytest.approx(expected, abs=1e-4)
    assert _lls(hf) == pytest.approx(expected, abs=1e-4)


def test_cache_hit_does_not_read_base_or_adapter_files_again(tiny_world, tmp_path, monkeypatch):
    """Checking a merged cache against its inputs hashes each file once: the user-level hash
    cache records them, and a later start reads neither the base weights nor the adapter."""
    cache = tmp_path / "merged"
    args = {
        "pretrained": str(tiny_world.model_dir),
        "lora": str(tiny_world.lora_dir),
        "merged_cache": str(cache),
        **COMMON,
    }
    MGMLoRALM.create_from_arg_obj(args)
    inputs = [
        p for d in (tiny_world.model_dir, tiny_world.lora_dir) for p in d.rglob("*") if p.is_file()
    ]
    recorded = json.loads(default_cache_file().read_text())
    assert {str(p) for p in inputs} <= set(recorded)
    stamp = (cache / MANIFEST).stat().st_mtime_ns

    opened = record_opens(monkeypatch)
    second = MGMLoRALM.create_from_arg_obj(args)
    assert (cache / MANIFEST).stat().st_mtime_ns == stamp  # a cache hit
    weights = {
        str(p) for p in inputs if p.suffix == ".safetensors" or tiny_world.lora_dir in p.parents
    }
    assert any(p.endswith("model.safetensors") for p in weights)
    assert not weights & opened, sorted(weights & opened)
    assert second.get_model_info()["lora"] == str(tiny_world.lora_dir)


def test_changed_adapter_invalidates_cache(tiny_world, tmp_path):
    cache, lora = tmp_path / "merged", tmp_path / "lora"
    shutil.copytree(tiny_world.lora_dir, lora)
    args = {
        "pretrained": str(tiny_world.model_dir),
        "lora": str(lora),
        "merged_cache": str(cache),
        **COMMON,
    }
    before = _lls(MGMLoRALM.create_from_arg_obj(args))
    old = json.loads((cache / MANIFEST).read_text())
    shutil.rmtree(lora)
    build_lora_adapter(tiny_world.model_dir, lora, seed=7)
    after = _lls(MGMLoRALM.create_from_arg_obj(args))
    assert json.loads((cache / MANIFEST).read_text()) != old
    assert after != pytest.approx(before, abs=1e-3)
    fresh = _lls(MGMLoRALM(pretrained=str(tiny_world.model_dir), lora=str(lora), **COMMON))
    assert after == pytest.approx(fresh, abs=1e-4)


def test_vl_cache_reused(vl_world, tmp_path):
    cache = tmp_path / "vl-merged"
    args = {
        "pretrained": str(vl_world.model_dir),
        "lora": str(vl_world.lora_dir),
        "merged_cache": str(cache),
        "device": "cpu",
        "dtype": "float32",
    }
    first = MGMLoRALM.create_from_arg_obj(args)
    assert (cache / MANIFEST).is_file()
    second = MGMLoRALM.create_from_arg_obj(
        {**args, "pretrained": str(cache), "lora": None, "merged_cache": None}
    )
    for (n, a), (_, b) in zip(
        first.model.state_dict().items(), second.model.state_dict().items(), strict=True
    ):
        assert (a - b).abs().max() < 1e-6, n


def test_cache_carries_the_tokenizer_actually_used(tiny_world, tmp_path):
    """tokenizer=ADAPTER_DIR (an adapter shipping its own tokenizer with an added token): the
    cache carries that tokenizer's files, byte for byte, not the base's; ``hf`` loads the cache
    with the grown vocabulary and scores as the merged model did."""
    lora, cache = tmp_path / "lora", tmp_path / "merged"
    shutil.copytree(tiny_world.lora_dir, lora)
    tokenizer = AutoTokenizer.from_pretrained(tiny_world.model_dir)
    base_len = len(tokenizer)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|extra|>"]})
    tokenizer.save_pretrained(lora)
    lm = MGMLoRALM.create_from_arg_obj(
        {
            "pretrained": str(tiny_world.model_dir),
            "lora": str(lora),
            "tokenizer": str(lora),
            "merged_cache": str(cache),
            **COMMON,
        }
    )
    used = {name: path.read_bytes() for name, path in processor_files(lora).items()}
    assert {name: path.read_bytes() for name, path in processor_files(cache).items()} == used
    hf = HFLM(pretrained=str(cache), **COMMON)
    assert len(hf.tokenizer) == base_len + 1
    assert hf.model.get_input_embeddings().num_embeddings == base_len + 1
    assert _lls(hf) == pytest.approx(_lls(lm), abs=1e-4)
    # a changed tokenizer must re-merge (its size decides the resize), so it is an input
    assert json.loads((cache / MANIFEST).read_text())["tokenizer"]["files"]


def test_cache_not_written_without_processor_files(tiny_world, tmp_path, monkeypatch, caplog):
    """Where the processor files cannot be had, the merged model is still evaluated, no cache
    directory (nor its temp dir) is left, and a warning names the cache and the cause."""
    from lm_eval_ext.errors import CheckpointError
    from lm_eval_ext.models import merged_cache

    def unavailable(source_dir, target_dir):
        assert target_dir.is_dir()  # raised inside the save, after its temp dir exists
        raise CheckpointError(f"{source_dir}: not in the offline hub cache")

    monkeypatch.setattr(merged_cache, "copy_processor_files", unavailable)
    cache = tmp_path / "merged"
    args = {"pretrained": str(tiny_world.model_dir), "lora": str(tiny_world.lora_dir), **COMMON}
    with caplog.at_level("WARNING", logger=merged_cache.__name__):
        lm = MGMLoRALM.create_from_arg_obj({**args, "merged_cache": str(cache)})
    assert not cache.exists() and not list(tmp_path.iterdir())
    assert f"merged_cache={cache} not written" in caplog.text and "offline hub cache" in caplog.text
    assert _lls(lm) == pytest.approx(_lls(MGMLoRALM.create_from_arg_obj(args)), abs=1e-4)
