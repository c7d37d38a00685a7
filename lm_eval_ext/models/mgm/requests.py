"""lm-eval requests for MGM: ids with image markers, text-side truncation, batched scoring.

A request becomes ids (``prompts.tokenize_with_images``) and PIL images. Over-long requests
lose their oldest *text* tokens (never BOS, an image marker or the continuation): images are
never cut. Batches are left-padded; each row's positions start at 0 at its first real token,
so a batched run equals one-at-a-time runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from lm_eval_ext.errors import InputTooLongError, PromptImagesError
from lm_eval_ext.models.mgm.modeling import IMAGE_TOKEN_INDEX, MGMForCausalLM
from lm_eval_ext.models.mgm.prompts import IMAGE_PLACEHOLDER
from lm_eval_ext.models.vl_inputs import load_image


@dataclass
class Encoded:
    """One request: its lm-eval args, context ids (with markers), continuation ids, images."""

    args: tuple
    context: list[int]
    continuation: list[int] = field(default_factory=list)
    images: list[Any] = field(default_factory=list)


def request_images(aux: dict[str, Any] | None, max_images: int) -> list[Any]:
    """The request's images as RGB PIL images (unreadable ones raise ``ImageLoadError``)."""
    visuals = (aux or {}).get("visual") or []
    return [load_image(v).convert("RGB") for v in visuals][:max_images]


def with_placeholders(text: str, n_images: int) -> str:
    """``text`` with one ``<image>`` per image: MGM's ``<image>\\n`` prefix when it has none."""
    found = text.count(IMAGE_PLACEHOLDER)
    if found == n_images:
        return text
    if found == 0:
        return (IMAGE_PLACEHOLDER + "\n") * n_images + text
    raise PromptImagesError(
        f"a prompt has {found} {IMAGE_PLACEHOLDER} placeholder(s) but its request carries "
        f"{n_images} image(s); the task's doc_to_text and doc_to_image must agree"
    )


def fit_context(
    context: list[int], fixed: int, per_image: int, budget: int, keep_first: bool
) -> list[int]:
    """``context`` without its oldest text tokens so that the sequence fits ``budget``.

    ``fixed`` tokens follow the context (the continuation); each marker expands to
    ``per_image`` positions; ``keep_first`` keeps a leading BOS.
    """
    n_images = context.count(IMAGE_TOKEN_INDEX)
    over = len(context) + fixed + n_images * (per_image - 1) - budget
    if over <= 0:
        return context
    start = 1 if keep_first else 0
    droppable = [i for i in range(start, len(context)) if context[i] != IMAGE_TOKEN_INDEX]
    if len(droppable) < over:
        raise InputTooLongError(
            f"a request with {n_images} image(s) of {per_image} tokens needs "
            f"{budget + over} positions but max_length allows {budget}; raise max_length"
        )
    dropped = set(droppable[:over])
    return [t for i, t in enumerate(context) if i not in dropped]


def image_tokens_by_object(
    model: MGMForCausalLM, processor: Any, batch: list[Encoded]
) -> list[list[torch.Tensor]]:
    """Each request's image tokens; an image object shared by requests is encoded once."""
    unique: dict[int, Any] = {}
    for req in batch:
        for img in req.images:
            unique.setdefault(id(img), img)
    if not unique:
        return [[] for _ in batch]
    feats = model.image_tokens([processor(img) for img in unique.values()])
    by_id = dict(zip(unique, feats, strict=True))
    return [[by_id[id(img)] for img in req.images] for req in batch]


def score_batch(
    model: MGMForCausalLM, processor: Any, batch: list[Encoded]
) -> list[tuple[float, bool]]:
    """Summed log-probability of each continuation and whether it is the greedy one."""
    rows = [(r.context + r.continuation)[:-1] for r in batch]
    feats = image_tokens_by_object(model, processor, batch)
    logprobs = F.log_softmax(model.logits(rows, feats).float(), dim=-1)
    width = logprobs.shape[1]
    out = []
    for req, row in zip(batch, logprobs, strict=True):
        n = len(req.continuation)
        picked = row[width - n :]
        target = torch.tensor(req.continuation, device=picked.device)
        total = picked.gather(1, target[:, None]).sum()
        out.append((float(total), bool((picked.argmax(-1) == target).all())))
    return out


def generation_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """lm-eval's sampling conventions: temperature 0 (or unset) means greedy."""
    kwargs = copy.deepcopy(kwargs)
    kwargs.setdefault("temperature", 0.0)
    if kwargs["temperature"] == 0.0 and kwargs.get("do_sample") is None:
        kwargs["do_sample"] = False
    if kwargs.get("do_sample") is False and kwargs["temperature"] == 0.0:
        kwargs.pop("temperature")
    return kwargs
