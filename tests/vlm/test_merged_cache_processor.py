"""A merged Qwen-VL cache carries the base's processor files and loads wherever the base loads.

Issue #10, part 3: the cache used to get a re-serialised image-only processor (a nested
``processor_config.json`` without a video processor), on which ``AutoProcessor`` raises
``OSError: Can't load video processor`` even where torchvision is installed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import numpy as np
import pytest
import transformers
from lm_eval.api.instance import Instance
from lm_eval.api.registry import get_model
from PIL import Image

from lm_eval_ext.errors import CheckpointError
from lm_eval_ext.models.merged_cache import MANIFEST
from lm_eval_ext.models.mgm_lora import MGMLoRALM
from lm_eval_ext.models.processor_files import (
    copy_processor_files,
    is_processor_file,
    processor_dir,
)
from lm_eval_ext.models.qwen_vl import QWEN_IMAGE_STRING
from lm_eval_ext.models.vl_processor import load_image_only_processor

COMMON = {"device": "cpu", "dtype": "float32", "batch_size": 2}
#: Written by the merged model's ``save_pretrained`` (or by us), not copied from the base.
MODEL_FILES = frozenset({"config.json", "generation_config.json", "model.safetensors", MANIFEST})
#: What a Qwen2-VL hub checkpoint carries besides the model (the tiny base must have it too).
HUB_PROCESSOR_FILES = frozenset(
    {
        "preprocessor_config.json",
        "video_preprocessor_config.json",
        "chat_template.jinja",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
        "merges.txt",
    }
)
TEXT_REQS = [("Question: what color is the sky?\nAnswer:", " blue"), ("The cat sat", " on it")]


def _non_model_files(directory: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in Path(directory).iterdir()
        if p.is_file() and p.name not in MODEL_FILES
    }


def _outcome(build: Callable[[], Any], directory: Path) -> Any:
    """``build()``, or ``(exception type, message with the directory masked)`` if it raises."""
    try:
        return build()
    except Exception as exc:  # noqa: BLE001 - comparing whatever the two loads raise
        return type(exc), str(exc).replace(str(directory), "<DIR>")


def _image(world, i: int = 0) -> Image.Image:
    return Image.open(world.data_dir / "images" / f"img{i}.png").convert("RGB")


@pytest.fixture(scope="module")
def vl_cache(vl_world, tmp_path_factory) -> tuple[Path, Any]:
    """(cache dir, the mgm_lora model whose merge wrote it)."""
    cache = tmp_path_factory.mktemp("vl-cache") / "merged"
    lm = MGMLoRALM.create_from_arg_obj(
        {
            "pretrained": str(vl_world.model_dir),
            "lora": str(vl_world.lora_dir),
            "merged_cache": str(cache),
            **COMMON,
        }
    )
    assert (cache / MANIFEST).is_file()
    return cache, lm


def test_cache_carries_the_base_processor_files_byte_identical(vl_world, vl_cache):
    """Every non-model file of the base (processor, video processor, template, tokenizer) is in
    the cache with the same bytes, and the cache has no processor file the base lacks."""
    cache, _ = vl_cache
    base_files = _non_model_files(vl_world.model_dir)
    assert set(base_files) >= HUB_PROCESSOR_FILES  # the tiny base is laid out like the hub's
    assert _non_model_files(cache) == base_files
    assert sorted(MODEL_FILES - {MANIFEST}) == sorted(
        p.name for p in cache.iterdir() if p.name in MODEL_FILES - {MANIFEST}
    )


def _image_only_from_pretrained(name: Any, **kwargs: Any):
    """``AutoProcessor.from_pretrained`` as if the video processor could be skipped."""
    model_type = transformers.AutoConfig.from_pretrained(name).model_type
    return load_image_only_processor(str(name), model_type, **kwargs)


@pytest.mark.parametrize("processor", ["auto", "image_only"])
def test_auto_processor_behaves_on_the_cache_as_on_the_base(
    vl_world, vl_cache, processor, monkeypatch
):
    """``AutoProcessor.from_pretrained``: same class and same encodings on both, or the same
    exception. ``auto``: without torchvision (here) both raise ImportError for the video
    processor. ``image_only``: the video processor skipped, so the loading branch runs here."""
    cache, _ = vl_cache
    if processor == "image_only":
        monkeypatch.setattr(
            transformers.AutoProcessor, "from_pretrained", _image_only_from_pretrained
        )
    base = _outcome(
        lambda: transformers.AutoProcessor.from_pretrained(vl_world.model_dir), vl_world.model_dir
    )
    got = _outcome(lambda: transformers.AutoProcessor.from_pretrained(cache), cache)
    if isinstance(base, tuple):
        assert processor == "auto", base
        assert got == base
        return
    assert type(got).__name__ == type(base).__name__
    text = [QWEN_IMAGE_STRING + " What color is the background?"]
    enc_base = base(text=text, images=[_image(vl_world)], return_tensors="np")
    enc_got = got(text=text, images=[_image(vl_world)], return_tensors="np")
    assert sorted(enc_got) == sorted(enc_base) and "pixel_values" in enc_base
    for key in enc_base:
        np.testing.assert_array_equal(enc_got[key], enc_base[key])
    assert got.chat_template == base.chat_template


def _hf_multimodal(directory: Path):
    return get_model("hf-multimodal")(
        pretrained=str(directory), image_string=QWEN_IMAGE_STRING, **COMMON
    )


def _outputs(lm, world) -> tuple[list[float], list[str]]:
    """Text loglikelihoods and greedy generations with images (hf-multimodal's request types)."""
    lls = lm.loglikelihood(
        [Instance("loglikelihood", {}, r, i) for i, r in enumerate(TEXT_REQS)], disable_tqdm=True
    )
    kw = {"until": ["\n"], "max_gen_toks": 5, "do_sample": False}
    gens = lm.generate_until(
        [
            Instance(
                "generate_until",
                {},
                ("<image> What color? Answer:", dict(kw), {"visual": [_image(world, i)]}),
                i,
            )
            for i in range(3)
        ],
        disable_tqdm=True,
    )
    return [ll for ll, _ in lls], gens


@pytest.mark.parametrize("processor", ["auto", "image_only"])
def test_hf_multimodal_loads_the_cache_wherever_it_loads_the_base(
    vl_world, vl_cache, processor, monkeypatch
):
    """``--model hf-multimodal``: the cache loads iff the base loads, and gives the outputs of
    the mgm_lora model that wrote it.

    ``auto``: transformers as installed. Without torchvision (this CPU test machine) the base
    does NOT load (``AutoProcessor`` raises ImportError for Qwen2-VL's video processor); the
    cache must then fail in exactly the same way. With torchvision both must load.
    ``image_only``: ``AutoProcessor`` replaced by the image-only loader (the stand-in for a
    working video processor), so the loading branch runs here too: model weights, tokenizer and
    image processor all read from the cache.
    """
    cache, merged = vl_cache
    if processor == "image_only":
        monkeypatch.setattr(
            transformers.AutoProcessor, "from_pretrained", _image_only_from_pretrained
        )
    base = _outcome(lambda: _hf_multimodal(vl_world.model_dir), vl_world.model_dir)
    got = _outcome(lambda: _hf_multimodal(cache), cache)
    if isinstance(base, tuple):
        assert processor == "auto", base
        assert got == base
        return
    assert not isinstance(got, tuple), got
    lls, gens = _outputs(got, vl_world)
    ref_lls, ref_gens = _outputs(merged, vl_world)
    assert lls == pytest.approx(ref_lls, abs=1e-4)
    assert gens == ref_gens
    assert _outputs(base, vl_world)[0] != pytest.approx(ref_lls, abs=1e-3)  # LoRA changed it


def _fake_hub_snapshot(hub_cache: Path, repo_id: str, source: Path) -> Path:
    """Lay ``source`` out as a downloaded hub repo (refs, snapshot symlinks into blobs)."""
    repo = hub_cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for path in source.iterdir():
        blob = repo / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        shutil.copyfile(path, blob)
        (snapshot / path.name).symlink_to(Path("../../blobs") / blob.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_hub_base_cache_copies_the_snapshot_files(vl_world, tmp_path, monkeypatch):
    """A hub-id base (offline, from the local hub cache): the processor files come from its
    snapshot, byte-identical (symlinks followed)."""
    hub_cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    snapshot = _fake_hub_snapshot(hub_cache, "tiny-org/tiny-qwen2-vl", vl_world.model_dir)
    cache = tmp_path / "merged"
    MGMLoRALM.create_from_arg_obj(
        {
            "pretrained": "tiny-org/tiny-qwen2-vl",
            "lora": str(vl_world.lora_dir),
            "merged_cache": str(cache),
            **COMMON,
        }
    )
    assert _non_model_files(cache) == _non_model_files(snapshot)
    manifest = json.loads((cache / MANIFEST).read_text())
    assert manifest["base"] == {"hub_id": "tiny-org/tiny-qwen2-vl", "revision": "main"}
    assert not any(p.is_symlink() for p in cache.iterdir())


def test_processor_file_patterns():
    """Processor/tokenizer files match at the checkpoint root; weights and configs never do."""
    for name in [
        *sorted(HUB_PROCESSOR_FILES),
        "processor_config.json",
        "chat_template.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "tokenizer.model",
        "vocab.txt",
        "qwen.tiktoken",
        "chat_templates/tool_use.jinja",
    ]:
        assert is_processor_file(name), name
    for name in [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "adapter_config.json",
        "original/tokenizer.model",
        "README.md",
        MANIFEST,
    ]:
        assert not is_processor_file(name), name


def test_missing_processor_files_are_named(tmp_path, monkeypatch):
    """No files to copy, or a hub base missing from the offline cache: errors name the source."""
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        copy_processor_files(tmp_path, tmp_path / "out")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(CheckpointError, match="tiny-org/absent"):
        processor_dir("tiny-org/absent")
