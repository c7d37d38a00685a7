"""MGM's own code on the parity requests (runs in the throwaway venv: transformers 4.38.2).

Loads each model with MGM's ``load_pretrained_model``; for a LoRA output applies LLaVA's LoRA
recipe (``non_lora_trainables.bin`` with LLaVA's key stripping and ``load_state_dict(strict=
False)``, then ``PeftModel.from_pretrained``, then ``merge_and_unload``). Prompts go through
MGM's ``tokenizer_image_token``, images through MGM's ``process_images`` with the
``image_size_aux`` handling of MGM's eval scripts. A context's trailing whitespace moves to the
continuation before tokenising and the input is the context's ids + the rest of the whole
string's, as lm-eval does for every model (harness conventions, the same on both sides). The
result is JSON on stdout's last line.
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.nn.functional as F
from PIL import Image


class _Float32Torch:
    """MGM's builder hard-codes float16; the comparison runs both sides in float32."""

    float16 = torch.float32

    def __getattr__(self, name):
        return getattr(torch, name)


def load(path: str, lora: str | None):
    import mgm.model.builder as builder
    from mgm.mm_utils import get_model_name_from_path

    builder.torch = _Float32Torch()
    tokenizer, model, processor, _ = builder.load_pretrained_model(
        path, None, get_model_name_from_path(path), device="cpu"
    )
    report = {}
    if lora:
        from peft import PeftModel

        trainables = torch.load(os.path.join(lora, "non_lora_trainables.bin"), map_location="cpu")
        trainables = {
            (k[11:] if k.startswith("base_model.") else k): v for k, v in trainables.items()
        }
        if any(k.startswith("model.model.") for k in trainables):
            trainables = {
                (k[6:] if k.startswith("model.") else k): v for k, v in trainables.items()
            }
        status = model.load_state_dict(trainables, strict=False)
        report["trainables_unexpected"] = list(status.unexpected_keys)
        model = PeftModel.from_pretrained(model, lora).merge_and_unload()
    model.eval()  # MGM's eval scripts leave the late-built ConvNeXt in train mode (drop path)
    return tokenizer, model.float(), processor, report


def images_for(model, processor, image):
    from mgm.mm_utils import process_images

    cfg = model.config
    raw = processor.crop_size.copy()
    processor.crop_size = {"height": cfg.image_size_aux, "width": cfg.image_size_aux}
    processor.size = {"shortest_edge": cfg.image_size_aux}
    tensor = process_images([image], processor, cfg)[0]
    processor.crop_size = raw
    low = F.interpolate(
        tensor[None], size=[raw["height"], raw["width"]], mode="bilinear", align_corners=False
    )[0]
    return low[None].float(), tensor[None].float()


def run(spec: dict) -> list[dict]:
    from mgm.constants import IMAGE_TOKEN_INDEX
    from mgm.mm_utils import tokenizer_image_token

    tokenizer, model, processor, report = load(spec["path"], spec.get("lora"))
    out = []
    for req in spec["requests"]:
        context, continuation = req["context"], req["continuation"]
        n_spaces = len(context) - len(context.rstrip())  # lm-eval's request convention
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        ctx = tokenizer_image_token(context, tokenizer, IMAGE_TOKEN_INDEX)
        whole = tokenizer_image_token(context + continuation, tokenizer, IMAGE_TOKEN_INDEX)
        cont = whole[len(ctx) :]
        whole = ctx + cont  # lm-eval's pair encoding (HFLM._encode_pair): context ids + the rest
        images, images_aux = images_for(model, processor, Image.open(req["image"]).convert("RGB"))
        with torch.no_grad():
            logits = model(
                input_ids=torch.tensor([whole[:-1]]), images=images, images_aux=images_aux
            ).logits
        logprobs = F.log_softmax(logits[0, -len(cont) :].float(), dim=-1)
        ll = float(logprobs.gather(1, torch.tensor(cont)[:, None]).sum())
        out.append({"ids": whole, "ll": ll, **report})
    return out


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        specs = json.load(f)
    print(json.dumps([run(spec) for spec in specs]))
