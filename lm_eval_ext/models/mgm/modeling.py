"""MGM as one ``nn.Module``: a transformers language model, CLIP, ConvNeXt, mining, projector.

The module names are ours (``language_model``, ``vision_tower``, ``vision_tower_aux``,
``vlm_uni_*``, ``mm_projector``); ``models.mgm.weights`` maps them to and from MGM's checkpoint
keys. Inputs are token ids where ``-200`` marks an image (MGM's ``IMAGE_TOKEN_INDEX``); each
marker is replaced by that image's tokens (:meth:`MGMForCausalLM.embed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lm_eval_ext.models.mgm.config import MGMSettings
from lm_eval_ext.models.mgm.convnext import ConvNeXtTower
from lm_eval_ext.models.mgm.mining import hd_aux_maps, mine

#: MGM's ``IMAGE_TOKEN_INDEX``: where an image's tokens go in the ids.
IMAGE_TOKEN_INDEX = -200


@dataclass(frozen=True)
class ImageInput:
    """One prepared image: CLIP views ``[V, 3, low, low]`` and the high-res image ``[3, S, S]``."""

    views: torch.Tensor
    aux: torch.Tensor | None


def language_model_class(family: str) -> type:
    """The transformers causal-LM class of an MGM language-model family."""
    import transformers

    return {
        "gemma": transformers.GemmaForCausalLM,
        "llama": transformers.LlamaForCausalLM,
        "mistral": transformers.MistralForCausalLM,
        "mixtral": transformers.MixtralForCausalLM,
    }[family]


def build_projector(kind: str, in_dim: int, out_dim: int) -> nn.Module:
    """``mm_projector``: ``linear`` or ``mlp2x_gelu`` (Linear, GELU, Linear)."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))


def _ln_linear(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, out_dim))


class MGMForCausalLM(nn.Module):
    """Mini-Gemini for evaluation (no training paths; always used in eval mode).

    Args:
        settings: the vision keys of the MGM config.
        lm_config: the language model's transformers config.
        clip_config: the CLIP vision config.
        aux_shape: ``(widths, depths)`` of the ConvNeXt (None without a high-res tower).
    """

    def __init__(
        self,
        settings: MGMSettings,
        lm_config: Any,
        clip_config: Any,
        aux_shape: tuple[list[int], list[int]] | None,
    ) -> None:
        from transformers import CLIPVisionModel

        super().__init__()
        self.settings = settings
        self.language_model = language_model_class(settings.family)(lm_config)
        self.vision_tower = CLIPVisionModel(clip_config)
        hidden, mm = lm_config.hidden_size, settings.mm_hidden_size
        if aux_shape is not None:
            self.vision_tower_aux = ConvNeXtTower(*aux_shape)
            aux = self.vision_tower_aux.hidden_size
            self.vlm_uni_query_projector = _ln_linear(mm, mm)
            self.vlm_uni_aux_projector = _ln_linear(aux, mm)
            self.vlm_uni_val_projector = _ln_linear(aux, mm)
        self.mm_projector = build_projector(settings.projector_type, mm, hidden)

    # ---- what lm-eval's HFLM reads from a model -----------------------------------------

    @property
    def config(self) -> Any:
        """The language model's config (lm-eval reads lengths and token ids from it)."""
        return self.language_model.config

    @property
    def dtype(self) -> torch.dtype:
        """Parameter dtype."""
        return self.language_model.dtype

    @property
    def device(self) -> torch.device:
        """Parameter device."""
        return self.language_model.device

    @property
    def has_aux(self) -> bool:
        """Whether the high-resolution tower and patch info mining are present."""
        return hasattr(self, "vision_tower_aux")

    def tie_weights(self) -> None:
        """Tie the language model's output embedding as its config says."""
        self.language_model.tie_weights()

    def save_pretrained(self, directory: str, safe_serialization: bool = True, **_: Any) -> None:
        """Save as an MGM checkpoint (MGM's keys, safetensors) that the loader reads back."""
        from lm_eval_ext.models.mgm.weights import save_checkpoint

        save_checkpoint(self, self.settings.raw, directory)

    def num_parameters(self) -> int:
        """Number of parameters (tied ones once)."""
        return sum(p.numel() for p in self.parameters())

    def embed_scale(self) -> float:
        """Factor applied to image features in the embedding space (Gemma: √hidden_size).

        MGM-Gemma ran on a transformers release that multiplied all ``inputs_embeds`` by
        √hidden_size inside ``GemmaModel.forward``, image features included. Current Gemma
        scales in ``embed_tokens`` only, so the image features are scaled here.
        """
        return self.config.hidden_size**0.5 if self.settings.family == "gemma" else 1.0

    # ---- images ---------------------------------------------------------------------------

    def clip_tokens(self, views: torch.Tensor) -> torch.Tensor:
        """CLIP features ``[V, N, D]``: ``hidden_states[select_layer]``, CLS dropped for 'patch'."""
        out = self.vision_tower(views.to(self.dtype), output_hidden_states=True)
        feats = out.hidden_states[self.settings.select_layer]
        return feats[:, 1:] if self.settings.select_feature == "patch" else feats

    def image_tokens(self, images: list[ImageInput]) -> list[torch.Tensor]:
        """Each image's tokens in the language model's embedding space, ``[V*N, hidden]``."""
        counts = [img.views.shape[0] for img in images]
        tokens = self.clip_tokens(torch.cat([img.views for img in images]))
        if self.has_aux:
            aux = self.vision_tower_aux(torch.stack([img.aux for img in images]).to(self.dtype))
            grid, use_global = self.settings.image_grid, self.settings.image_global
            maps = [hd_aux_maps(a[None], grid, use_global) if grid > 1 else a[None] for a in aux]
            tokens = tokens + mine(
                tokens,
                torch.cat(maps).to(tokens.dtype),
                self.vlm_uni_query_projector,
                self.vlm_uni_aux_projector,
                self.vlm_uni_val_projector,
            )
        projected = self.mm_projector(tokens)
        return [t.flatten(0, 1) for t in projected.split(counts)]

    def tokens_per_image(self) -> int:
        """How many positions one image takes in the sequence."""
        cfg = self.vision_tower.config
        side = cfg.image_size // cfg.patch_size
        per_view = side * side + (self.settings.select_feature == "cls_patch")
        views = self.settings.image_grid**2 + self.settings.image_global
        return per_view * (views if self.settings.image_grid > 1 else 1)

    # ---- sequences ------------------------------------------------------------------------

    def embed(
        self, rows: list[list[int]], images: list[list[torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Left-padded ``(inputs_embeds, attention_mask, position_ids)`` for id rows with markers.

        Row ``i``'s ``-200`` markers take ``images[i]``'s tokens (from :meth:`image_tokens`),
        in order.
        """
        embed_tokens = self.language_model.get_input_embeddings()
        scale = torch.tensor(self.embed_scale(), dtype=self.dtype)
        seqs = []
        for ids, feats in zip(rows, images, strict=True):
            if ids.count(IMAGE_TOKEN_INDEX) != len(feats):
                raise ValueError(
                    f"{ids.count(IMAGE_TOKEN_INDEX)} image marker(s), {len(feats)} images"
                )
            ids_t = torch.tensor(ids, dtype=torch.long, device=self.device)
            text = embed_tokens(ids_t.clamp(min=0))
            parts, start = [], 0
            markers = (ids_t == IMAGE_TOKEN_INDEX).nonzero().flatten().tolist()
            for pos, feat in zip(markers, feats, strict=True):
                parts += [text[start:pos], feat.to(text.dtype) * scale]
                start = pos + 1
            seqs.append(torch.cat([*parts, text[start:]]))
        width = max(len(s) for s in seqs)
        hidden = seqs[0].shape[-1]
        embeds = seqs[0].new_zeros(len(seqs), width, hidden)
        mask = torch.zeros(len(seqs), width, dtype=torch.long, device=self.device)
        for i, seq in enumerate(seqs):
            embeds[i, width - len(seq) :] = seq
            mask[i, width - len(seq) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return embeds, mask, positions

    @torch.no_grad()
    def logits(self, rows: list[list[int]], images: list[list[torch.Tensor]]) -> torch.Tensor:
        """Logits ``[B, T, vocab]`` of left-padded rows (row ``i`` ends at position ``T-1``)."""
        embeds, mask, positions = self.embed(rows, images)
        out = self.language_model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions)
        return out.logits

    @torch.no_grad()
    def generate(
        self, rows: list[list[int]], images: list[list[torch.Tensor]], **kwargs: Any
    ) -> torch.Tensor:
        """New token ids ``[B, new]`` (transformers ``generate`` on the spliced embeddings)."""
        embeds, mask, _ = self.embed(rows, images)
        return self.language_model.generate(inputs_embeds=embeds, attention_mask=mask, **kwargs)
