"""Qwen-VL (2 / 2.5 / 3) behind ``--model mgm_lora``: LoRA merged, images in every request type.

``models.dispatch`` picks :class:`QwenVLLM` when the checkpoint's ``config.json`` names a Qwen-VL
architecture. It is lm-eval's ``HFMultimodalLM`` with these hooks changed:

* model creation merges the LoRA adapter (optionally through ``merged_cache=DIR``), as every
  ``mgm_lora`` wrapper does (``LoRAMergeMixin``);
* the processor loads without torchvision (image-only, see ``vl_processor``);
* over-long inputs are truncated in *text*, before images are expanded into image tokens;
* ``loglikelihood`` with images works (upstream raises), scored as summed continuation
  log-probability, and its cache keys include the images (lm-eval hashes PIL images).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
import transformers
from lm_eval.api.instance import Instance
from lm_eval.models.hf_vlms import DEFAULT_IMAGE_PLACEHOLDER, HFMultimodalLM
from lm_eval.models.utils import Collator, replace_placeholders, resize_image
from lm_eval.models.utils_hf import pad_and_concat
from tqdm import tqdm

from lm_eval_ext._compat.lm_eval_models import encode_multimodal_pair, without_cache_hook
from lm_eval_ext.errors import InputTooLongError
from lm_eval_ext.models.lora import LoRAMergeMixin
from lm_eval_ext.models.vl_inputs import fit_text, image_token_count, load_image
from lm_eval_ext.models.vl_processor import load_vl_processor

QWEN_IMAGE_STRING = "<|vision_start|><|image_pad|><|vision_end|>"


class QwenVLLM(LoRAMergeMixin, HFMultimodalLM):
    """``mgm_lora`` for Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoints.

    Args:
        pretrained: base checkpoint (dir or hub id) with its processor files.
        lora: PEFT adapter to merge (language and/or vision modules).
        lora_revision: hub revision of the adapter.
        merged_cache: directory for the merged checkpoint (reused while inputs are unchanged;
            it carries the base's processor files, so ``hf-multimodal``/``vllm`` load it).
        **kwargs: every ``hf-multimodal`` arg (``max_pixels``, ``min_pixels``, ``batch_size``...).
    """

    AUTO_MODEL_CLASS = transformers.AutoModelForImageTextToText
    accepts_model_object = False

    def __init__(self, pretrained: Any, **kwargs: Any) -> None:
        super().__init__(pretrained, **kwargs)
        if not kwargs.get("image_string") and QWEN_IMAGE_STRING.split(">")[0] + ">" in (
            self.tokenizer.get_vocab()
        ):
            self.image_token = QWEN_IMAGE_STRING  # raw prompts: <image> -> Qwen's vision span

    @classmethod
    def upstream_model_args(cls) -> frozenset[str]:
        """``hf``'s args and pass-throughs plus ``hf-multimodal``'s own."""
        params = inspect.signature(HFMultimodalLM.__init__).parameters.values()
        own = {p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD}
        return super().upstream_model_args() | own

    def _processor_checkpoint(self, pretrained: Any, tokenizer: Any) -> str | None:
        """``tokenizer=`` when it names a checkpoint, else the base: the processor loads from it."""
        return tokenizer if isinstance(tokenizer, str) and tokenizer else pretrained

    def _preprocessor_objects(self) -> list[Any]:
        """The processor (tokenizer included) is what a cache without files would need."""
        return [self.processor]

    def _create_tokenizer(
        self,
        pretrained: Any,
        tokenizer: Any,
        revision: str | None = "main",
        trust_remote_code: bool | None = False,
        **kwargs: Any,
    ) -> None:
        """Load the processor (image-only where the video processor cannot be built)."""
        self.processor = load_vl_processor(
            self._processor_checkpoint(pretrained, tokenizer),
            self.config.model_type,
            revision=revision,
            trust_remote_code=trust_remote_code,
            **self.pixels,
        )
        self.tokenizer = self.processor.tokenizer

    # ---- inputs -------------------------------------------------------------------------

    def _images(self, visuals: list[Any]) -> list[Any]:
        images = [load_image(v) for v in visuals][: self.max_images]
        images = [
            resize_image(i, self.image_width, self.image_height, self.image_max_side)
            for i in images
        ]
        return [i.convert("RGB") for i in images] if self.rgb else images

    def _fit(self, text: str, images: list[Any], budget: int) -> str:
        """``text`` with placeholders replaced, left-truncated to ``budget`` expanded tokens."""
        if not self.chat_applied:
            text = replace_placeholders(
                text, DEFAULT_IMAGE_PLACEHOLDER, self.image_token, self.max_images
            )
        counts = [image_token_count(self.processor.image_processor, i, self.pixels) for i in images]
        image_token_id = self.config.image_token_id
        return fit_text(self.tokenizer, text, counts, budget, image_token_id)

    def tok_multimodal_encode(
        self, string: str, images: list[Any], left_truncate_len=None, add_special_tokens=None
    ):
        """Processor encoding as (ids, image tensors); truncation is done before, in text."""
        encoding = self.processor(text=[string], images=images, return_tensors="pt")
        ids = encoding.pop("input_ids").tolist()  # [[...]]: upstream takes row 0
        return ids, {k: encoding[k] for k in ("pixel_values", "image_grid_thw")}

    def tok_batch_multimodal_encode(
        self,
        strings: list[str],
        images: list[list],
        padding_side="left",
        left_truncate_len: int | None = None,
        truncation: bool = False,
    ):
        """Fit each prompt in text, then let upstream run the processor (no id slicing)."""
        if left_truncate_len:
            strings = [
                self._fit(s, imgs[: self.max_images], left_truncate_len)
                for s, imgs in zip(strings, images, strict=True)
            ]
        return super().tok_batch_multimodal_encode(
            strings, images, padding_side=padding_side, left_truncate_len=None, truncation=False
        )

    # ---- model calls --------------------------------------------------------------------

    def _batch_images(self, image_encs: list[dict]) -> dict[str, torch.Tensor]:
        """Concatenate per-request image tensors (pixel values in the model dtype)."""
        pixels = torch.cat([e["pixel_values"] for e in image_encs]).to(
            self.device, self.model.dtype
        )
        grids = torch.cat([e["image_grid_thw"] for e in image_encs]).to(self.device)
        return {"pixel_values": pixels, "image_grid_thw": grids}

    def _model_multimodal_call(self, inps, imgs, attn_mask=None, labels=None):
        """Forward with images; ``mm_token_type_ids`` (for M-RoPE) marks the image tokens."""
        mm_types = (inps == self.config.image_token_id).long()
        with torch.no_grad():
            return self.model(
                input_ids=inps, attention_mask=attn_mask, mm_token_type_ids=mm_types, **imgs
            ).logits

    # ---- request types ------------------------------------------------------------------

    def loglikelihood(self, requests: list[Instance], disable_tqdm: bool = False):
        """Summed log-probability of each continuation given context + images."""
        if requests and len(requests[0].args) < 3:
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm)
        encoded = []
        for context, continuation, aux in [req.args for req in requests]:
            if not context:
                raise InputTooLongError("image loglikelihood requests need a non-empty context")
            images = self._images(aux["visual"])
            n_cont = len(self.tok_encode(continuation, add_special_tokens=False))
            context = self._fit(context, images, self.max_length + 1 - n_cont)
            ctx_ids, cont_ids, image_enc = encode_multimodal_pair(
                self, context, continuation, images
            )
            encoded.append(((context, continuation, aux), ctx_ids, cont_ids, image_enc))
        return self._multimodal_loglikelihood_tokens(encoded, disable_tqdm=disable_tqdm)

    def _multimodal_loglikelihood_tokens(
        self, requests: list[tuple], disable_tqdm: bool = False, override_bs: int | None = None
    ):
        """Batched scoring; replaces upstream's, which cannot slice logits for this backend."""
        re_ord = Collator(
            requests, sort_fn=lambda r: (-(len(r[1]) + len(r[2])), tuple(r[1] + r[2]))
        )
        pbar = tqdm(
            total=len(requests),
            disable=disable_tqdm or self.rank != 0,
            desc="Running loglikelihood requests with text+image input",
        )
        res = []
        for chunk in re_ord.get_batched(n=override_bs or self.batch_size):
            inps = [torch.tensor((r[1] + r[2])[:-1], dtype=torch.long) for r in chunk]
            lens = [len(i) for i in inps]
            width = max(lens)
            batch = pad_and_concat(width, inps, padding_side="right").to(self.device)
            mask = (torch.arange(width)[None, :] < torch.tensor(lens)[:, None]).long()
            logits = self._model_multimodal_call(
                batch, self._batch_images([r[3] for r in chunk]), attn_mask=mask.to(self.device)
            )
            logprobs = F.log_softmax(logits.float(), dim=-1)
            for (args, _, cont, _), row, n in zip(chunk, logprobs, lens, strict=True):
                answer = self._score(row[n - len(cont) : n], cont)
                res.append(answer)
                self.cache_hook.add_partial("loglikelihood", args, answer)
                pbar.update(1)
        pbar.close()
        return re_ord.get_original(res)

    def _score(self, logprobs: torch.Tensor, cont: list[int]) -> tuple[float, bool]:
        target = torch.tensor(cont, dtype=torch.long, device=logprobs.device)
        picked = logprobs.gather(1, target[:, None]).squeeze(1)
        return float(picked.sum()), bool((logprobs.argmax(-1) == target).all())

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Upstream generation, with cache entries keyed on the full request (images included)."""
        if not requests or len(requests[0].args) < 3:
            return super().generate_until(requests, disable_tqdm=disable_tqdm)
        for req in requests:  # unreadable images fail here, naming the file
            req.args[2]["visual"] = [load_image(v) for v in req.args[2]["visual"]]
        with without_cache_hook(self):  # upstream keys omit images
            out = super().generate_until(requests, disable_tqdm=disable_tqdm)
        for req, text in zip(requests, out, strict=True):
            self.cache_hook.add_partial("generate_until", req.args, text)
        return out
