"""Qwen2.5-VL goes through the same wrapper: dispatch, merged == unmerged PEFT, image scoring."""

from __future__ import annotations

import pytest
import torch
from lm_eval.api.instance import Instance
from PIL import Image

from lm_eval_ext.models.lora_merge import load_adapter
from lm_eval_ext.models.mgm_lora import MGMLoRALM
from lm_eval_ext.models.qwen_vl import QwenVLLM
from tests.support.tiny_vl_world import build_vl_world


@pytest.fixture(scope="module")
def world25(tmp_path_factory):
    return build_vl_world(tmp_path_factory.mktemp("vl25_world"), family="qwen2_5_vl")


def test_qwen2_5_vl_merged_equals_unmerged_and_scores_images(world25):
    from transformers import AutoModelForImageTextToText

    lm = MGMLoRALM.create_from_arg_obj(
        {
            "pretrained": str(world25.model_dir),
            "lora": str(world25.lora_dir),
            "device": "cpu",
            "dtype": "float32",
            "batch_size": 2,
        }
    )
    assert isinstance(lm, QwenVLLM)
    assert lm.model.config.model_type == "qwen2_5_vl"
    image = Image.open(world25.data_dir / "images" / "img0.png")

    base = AutoModelForImageTextToText.from_pretrained(world25.model_dir, dtype=torch.float32)
    peft = load_adapter(base, str(world25.lora_dir)).eval()
    enc = lm.processor(
        text=[lm.image_token + " What color? Answer: red"], images=[image], return_tensors="pt"
    )
    with torch.no_grad():
        ref = peft(**enc).logits
        with peft.disable_adapter():
            plain = peft(**enc).logits
        got = lm.model(**enc).logits
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)
    assert (got - plain).abs().max() > 1e-2

    reqs = [
        Instance("loglikelihood", {}, ("<image> What color? Answer:", cont, {"visual": [image]}), i)
        for i, cont in enumerate([" red", " green blue"])
    ]
    scores = lm.loglikelihood(reqs, disable_tqdm=True)
    assert len(scores) == 2 and all(ll < 0 for ll, _ in scores)
