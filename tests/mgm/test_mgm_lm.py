"""``mgm_lora`` on MGM in-process: merged == unmerged, batching, merged cache, requests, errors."""

from __future__ import annotations

import json

import pytest
import torch
from lm_eval.api.instance import Instance
from PIL import Image
from safetensors import safe_open

from lm_eval_ext.errors import ImageLoadError, InputTooLongError, PromptImagesError
from lm_eval_ext.models.dispatch import model_class_for
from lm_eval_ext.models.mgm.lm import MGMLM
from lm_eval_ext.models.mgm.requests import fit_context
from lm_eval_ext.models.mgm_lora import MGMLoRALM

ARGS = {"device": "cpu", "dtype": "float32"}


def ll_requests(world) -> list[Instance]:
    img = [Image.open(world.data_dir / f"images/img{i}.png") for i in range(3)]
    args = [
        ("<image>\nWhat color is the background?\nAnswer:", " red", {"visual": [img[0]]}),
        ("<image>\nWhat color is the background?\nAnswer:", " blue", {"visual": [img[0]]}),
        ("<image>\nIs there a square?\nAnswer:", " yes it is", {"visual": [img[1]]}),
        ("Two images: <image> and <image>. Same?", " no", {"visual": [img[1], img[2]]}),
        ("Plain text question?", " no", {"visual": []}),
    ]
    return [Instance("loglikelihood", {}, a, i) for i, a in enumerate(args)]


def gen_requests(world) -> list[Instance]:
    img = [Image.open(world.data_dir / f"images/img{i}.png") for i in range(2)]
    kw = {"until": ["\n"], "max_gen_toks": 6, "do_sample": False}
    args = [
        ("<image>\nWhat color is the background?", kw, {"visual": [img[0]]}),
        ("<image>\nIs there a square? Answer:", kw, {"visual": [img[1]]}),
    ]
    return [Instance("generate_until", {}, a, i) for i, a in enumerate(args)]


@pytest.fixture(scope="module")
def merged(mgm_world):
    return MGMLM(
        pretrained=str(mgm_world.gemma_dir), lora=str(mgm_world.lora_dir), batch_size=4, **ARGS
    )


def _map_key(key: str) -> str:
    """non_lora_trainables key -> our module key, spelled out here (not the loader's mapping)."""
    key = key.removeprefix("base_model.model.")
    for old, new in (
        ("model.vision_tower.vision_tower.vision_model.", "vision_tower."),
        ("model.vision_tower_aux.", "vision_tower_aux."),
        ("model.mm_projector.", "mm_projector."),
        ("model.vlm_uni_", "vlm_uni_"),
    ):
        if key.startswith(old):
            return new + key[len(old) :]
    raise AssertionError(key)


def unmerged_reference(world):
    """LLaVA's LoRA recipe, unmerged: base, trainables copied in, PEFT on the language model."""
    from peft import PeftModel

    base = MGMLM(pretrained=str(world.gemma_dir), batch_size=1, **ARGS)
    trainables = torch.load(world.lora_dir / "non_lora_trainables.bin")
    state = base.model.state_dict()
    with torch.no_grad():
        for key, value in trainables.items():
            state[_map_key(key)].copy_(value.float())
    base.model.language_model = PeftModel.from_pretrained(
        base.model.language_model, str(world.lora_dir)
    )
    return base


def test_merged_equals_unmerged_and_differs_from_base(mgm_world, merged):
    reqs = ll_requests(mgm_world)
    ours = merged.loglikelihood(reqs, disable_tqdm=True)
    ref = unmerged_reference(mgm_world).loglikelihood(reqs, disable_tqdm=True)
    base = MGMLM(pretrained=str(mgm_world.gemma_dir), batch_size=4, **ARGS)
    base_lls = base.loglikelihood(reqs, disable_tqdm=True)
    assert [a for a, _ in ours] == pytest.approx([a for a, _ in ref], abs=1e-4)
    assert all(abs(a - b) > 1e-2 for (a, _), (b, _) in zip(ours, base_lls, strict=True))
    assert all(a < 0 for a, _ in ours)


def test_batched_equals_one_at_a_time(mgm_world, merged):
    one = MGMLM(
        pretrained=str(mgm_world.gemma_dir), lora=str(mgm_world.lora_dir), batch_size=1, **ARGS
    )
    reqs = ll_requests(mgm_world)
    batched, single = (
        merged.loglikelihood(reqs, disable_tqdm=True),
        one.loglikelihood(reqs, disable_tqdm=True),
    )
    assert [a for a, _ in batched] == pytest.approx([a for a, _ in single], abs=1e-4)
    assert [g for _, g in batched] == [g for _, g in single]
    gens = gen_requests(mgm_world)
    assert merged.generate_until(gens, disable_tqdm=True) == one.generate_until(
        gens, disable_tqdm=True
    )


def test_merged_cache_is_an_mgm_checkpoint_that_evaluates_the_same(mgm_world, tmp_path):
    cache = tmp_path / "merged"
    first = MGMLM(
        pretrained=str(mgm_world.gemma_dir),
        lora=str(mgm_world.lora_dir),
        merged_cache=str(cache),
        batch_size=2,
        **ARGS,
    )
    reqs = ll_requests(mgm_world)
    expected = first.loglikelihood(reqs, disable_tqdm=True)
    assert json.loads((cache / "config.json").read_text())["model_type"] == "mgm_gemma"
    with safe_open(str(cache / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert "model.vlm_uni_query_projector.0.weight" in keys
    assert "model.vision_tower.vision_tower.vision_model.embeddings.patch_embedding.weight" in keys
    assert "model.layers.0.self_attn.q_proj.weight" in keys and "lm_head.weight" not in keys
    plain = MGMLM(pretrained=str(cache), batch_size=2, **ARGS)
    assert plain.loglikelihood(reqs, disable_tqdm=True) == expected
    again = MGMLM(
        pretrained=str(mgm_world.gemma_dir),
        lora=str(mgm_world.lora_dir),
        merged_cache=str(cache),
        batch_size=2,
        **ARGS,
    )  # reuses the cache
    assert again.loglikelihood(reqs, disable_tqdm=True) == expected


def test_dispatch_picks_mgm_from_config_json(mgm_world):
    assert model_class_for(MGMLoRALM, {"pretrained": str(mgm_world.gemma_dir)}) is MGMLM
    assert model_class_for(MGMLoRALM, {"pretrained": str(mgm_world.llama_dir)}) is MGMLM


def test_unreadable_image_is_a_clear_error(mgm_world, merged, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    req = Instance("loglikelihood", {}, ("<image>\nQ?", " A", {"visual": [str(broken)]}), 0)
    with pytest.raises(ImageLoadError, match=r"cannot read image .*broken\.png"):
        merged.loglikelihood([req], disable_tqdm=True)


def test_truncation_drops_old_text_never_bos_or_images():
    ctx = [1, 10, 11, -200, 12, 13]
    assert fit_context(ctx, fixed=2, per_image=4, budget=10, keep_first=True) == [
        1,
        11,
        -200,
        12,
        13,
    ]
    with pytest.raises(InputTooLongError, match="max_length"):
        fit_context(ctx, fixed=2, per_image=4, budget=6, keep_first=True)


def test_chat_template_is_mgm_gemma_by_default_or_the_tokenizer_s(mgm_world, merged):
    chat = [{"role": "user", "content": "<image>\nQ?"}]
    assert (
        merged.apply_chat_template(chat)
        == "<start_of_turn>user\n<image>\nQ?<end_of_turn>\n<start_of_turn>model\n"
    )
    tok = MGMLM(pretrained=str(mgm_world.gemma_dir), conv_template="tokenizer", **ARGS)
    assert tok.apply_chat_template([dict(m) for m in chat]) == "<bos>" + merged.apply_chat_template(
        chat
    )
    ids = merged._ids(tok.apply_chat_template([dict(m) for m in chat]))
    assert ids == merged._ids(merged.apply_chat_template(chat)) and ids.count(2) == 1


def test_placeholders_must_match_the_images(mgm_world, merged):
    img = Image.open(mgm_world.data_dir / "images/img0.png")
    req = Instance("loglikelihood", {}, ("<image> and <image>?", " A", {"visual": [img]}), 0)
    with pytest.raises(PromptImagesError, match="2 <image> placeholder"):
        merged.loglikelihood([req], disable_tqdm=True)


def test_journal_works_for_mgm(mgm_world, merged, tmp_path):
    """Model creation goes through the journal's seam (dispatch -> MGMLM inside JournaledLM)."""
    lm = MGMLoRALM.create_from_arg_obj(
        {
            "pretrained": str(mgm_world.gemma_dir),
            "lora": str(mgm_world.lora_dir),
            "dtype": "float32",
            "journal": str(tmp_path / "journal"),
        },
        {"batch_size": 2, "device": "cpu"},
    )
    assert type(lm).__name__ == "JournaledLM" and isinstance(lm.lm, MGMLM)
    reqs = [
        Instance("loglikelihood", {"n": i}, r.args, 0, metadata=("t", i, 1))
        for i, r in enumerate(ll_requests(mgm_world))
    ]
    expected = merged.loglikelihood(reqs, disable_tqdm=True)
    assert [a for a, _ in lm.loglikelihood(reqs)] == pytest.approx(
        [a for a, _ in expected], abs=1e-5
    )
    assert (tmp_path / "journal" / "main.jsonl").stat().st_size > 0
