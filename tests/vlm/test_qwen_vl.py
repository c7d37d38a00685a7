"""Qwen2-VL through mgm_lora in-process: merge parity, image scoring, truncation, errors."""

from __future__ import annotations

import shutil

import pytest
import torch
from lm_eval.api.instance import Instance
from PIL import Image

from lm_eval_ext.errors import AdapterMismatchError, CheckpointError, ImageLoadError
from lm_eval_ext.models.lora_merge import load_adapter
from lm_eval_ext.models.mgm_lora import MGMLoRALM
from lm_eval_ext.models.qwen_vl import QwenVLLM

COMMON = {"device": "cpu", "dtype": "float32"}


def _lm(world, lora=True, **extra):
    args = {"pretrained": str(world.model_dir), **COMMON, "batch_size": 2, **extra}
    if lora:
        args["lora"] = str(world.lora_dir)
    return MGMLoRALM.create_from_arg_obj(args)


def _image(world, i=0):
    return Image.open(world.data_dir / "images" / f"img{i}.png")


@pytest.fixture(scope="module")
def merged(vl_world):
    return _lm(vl_world)


def _ll(lm, items):
    reqs = [
        Instance("loglikelihood", {}, (c, x, {"visual": [im]}), i)
        for i, (c, x, im) in enumerate(items)
    ]
    return lm.loglikelihood(reqs, disable_tqdm=True)


def test_dispatches_to_qwen_vl(merged):
    assert isinstance(merged, QwenVLLM)
    assert merged.get_model_info()["lora"]


def test_merged_logits_equal_unmerged_peft(vl_world, merged):
    from transformers import AutoModelForImageTextToText

    base = AutoModelForImageTextToText.from_pretrained(vl_world.model_dir, dtype=torch.float32)
    base_merger = base.model.visual.merger.mlp[0].weight.detach().clone()
    peft = load_adapter(base, str(vl_world.lora_dir)).eval()
    text = merged.image_token + " What color is the background? Answer: red"
    enc = merged.processor(text=[text], images=[_image(vl_world)], return_tensors="pt")
    with torch.no_grad():
        ref = peft(**enc).logits
        with peft.disable_adapter():
            plain = peft(**enc).logits
        got = merged.model(**enc).logits
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)
    assert (got - plain).abs().max() > 1e-2  # the adapter really changes the model
    merged_merger = merged.model.model.visual.merger.mlp[0].weight
    assert (merged_merger - base_merger).abs().max() > 1e-3  # vision projection merged too


def test_loglikelihood_matches_manual_sum(vl_world, merged):
    items = [
        ("<image> What color? Answer:", " red", _image(vl_world, 0)),
        ("<image> Name it:", " green blue", _image(vl_world, 1)),
        ("<image> Q? A:", " yes", _image(vl_world, 2)),
    ]
    got = _ll(merged, items)
    for (ctx, cont, img), (ll, _) in zip(items, got, strict=True):
        ctx = ctx.replace("<image>", merged.image_token)
        whole = merged.processor(text=[ctx + cont], images=[img], return_tensors="pt")
        n_ctx = merged.processor(text=[ctx], images=[img], return_tensors="pt")["input_ids"].shape[
            1
        ]
        with torch.no_grad():
            logp = torch.log_softmax(merged.model(**whole).logits[0].float(), -1)
        ids = whole["input_ids"][0]
        expected = sum(logp[i - 1, ids[i]].item() for i in range(n_ctx, len(ids)))
        assert ll == pytest.approx(expected, abs=1e-4)
    single = _lm(vl_world, batch_size=1)
    assert [x[0] for x in _ll(single, items)] == pytest.approx([x[0] for x in got], abs=1e-4)


def test_overlong_context_truncated_in_text(vl_world):
    lm = _lm(vl_world, max_length=40)
    long_ctx = "<image> " + "the red cat sat on the old tree " * 30 + "Answer:"
    ((ll, _),) = _ll(lm, [(long_ctx, " red", _image(vl_world, 1))])
    assert ll < 0
    fitted = lm._fit(long_ctx, [_image(vl_world, 1)], 40)
    assert fitted.count("<|image_pad|>") == 1 and fitted.endswith("Answer:")


def test_generate_until_with_images(vl_world, merged):
    kw = {"until": ["\n"], "max_gen_toks": 4, "do_sample": False}
    reqs = [
        Instance(
            "generate_until", {}, ("<image> Color?", dict(kw), {"visual": [_image(vl_world, i)]}), i
        )
        for i in range(2)
    ]
    out = merged.generate_until(reqs, disable_tqdm=True)
    text = merged.image_token + " Color?"
    enc = merged.processor(text=[text], images=[_image(vl_world, 0)], return_tensors="pt")
    with torch.no_grad():
        ids = merged.model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert out[0] == merged.tokenizer.decode(ids[0, enc["input_ids"].shape[1] :]).split("\n")[0]
    assert len(out) == 2


def test_adapter_for_another_base(vl_world, tiny_world):
    with pytest.raises(AdapterMismatchError, match=str(tiny_world.lora_dir)):
        MGMLoRALM.create_from_arg_obj(
            {"pretrained": str(vl_world.model_dir), "lora": str(tiny_world.lora_dir), **COMMON}
        )


def test_missing_processor_files(vl_world, tmp_path):
    broken = tmp_path / "no-processor"
    shutil.copytree(vl_world.model_dir, broken)
    for name in ("processor_config.json", "preprocessor_config.json"):
        (broken / name).unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="preprocessor_config.json"):
        MGMLoRALM.create_from_arg_obj({"pretrained": str(broken), **COMMON})


def test_unreadable_image(vl_world, merged, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageLoadError, match="broken.png"):
        _ll(merged, [("<image> Q:", " a", str(bad))])
