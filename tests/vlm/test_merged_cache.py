"""merged_cache=DIR: saved once, reused, invalidated by a changed adapter, loadable by ``hf``."""

from __future__ import annotations

import json
import shutil

import pytest
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from lm_eval_ext.models.merged_cache import MANIFEST
from lm_eval_ext.models.mgm_lora import MGMLoRALM
from lm_eval_ext.testing.tiny_world import build_lora_adapter

COMMON = {"device": "cpu", "dtype": "float32", "batch_size": 2}
REQS = [("Question: What is the capital of France?\nAnswer:", " Paris"),
        ("The table has", " 12 rows and 3 columns.")]


def _lls(lm):
    inst = [Instance("loglikelihood", {}, r, i) for i, r in enumerate(REQS)]
    return [x[0] for x in lm.loglikelihood(inst, disable_tqdm=True)]


def test_causal_cache_saved_reused_and_loadable_by_hf(tiny_world, tmp_path):
    cache = tmp_path / "merged"
    args = {"pretrained": str(tiny_world.model_dir), "lora": str(tiny_world.lora_dir),
            "merged_cache": str(cache), **COMMON}
    first = MGMLoRALM.create_from_arg_obj(args)
    assert (cache / MANIFEST).is_file() and (cache / "model.safetensors").is_file()
    stamp = (cache / MANIFEST).stat().st_mtime_ns
    second = MGMLoRALM.create_from_arg_obj(args)
    assert (cache / MANIFEST).stat().st_mtime_ns == stamp  # reused, not rewritten
    hf = HFLM(pretrained=str(cache), **COMMON)
    expected = _lls(first)
    assert _lls(second) == pytest.approx(expected, abs=1e-4)
    assert _lls(hf) == pytest.approx(expected, abs=1e-4)


def test_changed_adapter_invalidates_cache(tiny_world, tmp_path):
    cache, lora = tmp_path / "merged", tmp_path / "lora"
    shutil.copytree(tiny_world.lora_dir, lora)
    args = {"pretrained": str(tiny_world.model_dir), "lora": str(lora),
            "merged_cache": str(cache), **COMMON}
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
    args = {"pretrained": str(vl_world.model_dir), "lora": str(vl_world.lora_dir),
            "merged_cache": str(cache), "device": "cpu", "dtype": "float32"}
    first = MGMLoRALM.create_from_arg_obj(args)
    assert (cache / MANIFEST).is_file()
    second = MGMLoRALM.create_from_arg_obj({**args, "pretrained": str(cache), "lora": None,
                                            "merged_cache": None})
    for (n, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert (a - b).abs().max() < 1e-6, n
