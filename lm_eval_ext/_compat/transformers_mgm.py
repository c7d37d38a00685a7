"""transformers facts MGM's port relies on: Gemma's √hidden scale and GELU, CLIP's key layout.

Checked on transformers 5.24. MGM (Mini-Gemini) was trained on a transformers release whose
``GemmaModel.forward`` multiplied *every* ``inputs_embeds`` row by √hidden_size, image features
included, and whose ``GemmaMLP`` ran ``config.hidden_act`` as written (``"gelu"``: exact GELU).
Current Gemma scales inside ``embed_tokens`` only (so spliced image features must be scaled by
the caller) and rewrites ``hidden_act="gelu"`` to the tanh form in ``GemmaConfig.__post_init__``
(so the exact form must be set back after construction). ``models.mgm`` relies on both facts.

MGM checkpoints were saved by transformers 4.x, whose ``CLIPVisionModel`` wrapped its modules in
``vision_model``; 5.x's has them at the top (its ``from_pretrained`` strips the prefix). Our
loader maps MGM's keys itself, so it strips :data:`CLIP_VISION_PREFIX` the same way.
"""

from __future__ import annotations

from typing import Any

from lm_eval_ext._compat._seam import Seam

#: the prefix of CLIP vision keys in transformers 4.x checkpoints (absent from 5.x modules).
CLIP_VISION_PREFIX = "vision_model."


def set_hidden_act(config: Any, hidden_act: str) -> None:
    """Set ``config.hidden_act`` after construction (bypasses the config's gelu -> tanh rewrite)."""
    config.hidden_act = hidden_act


def _tiny_gemma(hidden_act: str = "gelu") -> Any:
    import torch
    from transformers import GemmaConfig, GemmaForCausalLM

    config = GemmaConfig(
        vocab_size=16,
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=4,
    )
    set_hidden_act(config, hidden_act)
    torch.manual_seed(0)
    return GemmaForCausalLM(config).eval()


def _check_embed_scale() -> None:
    import torch

    model = _tiny_gemma()
    ids = torch.tensor([[1, 2, 3]])
    embed = model.get_input_embeddings()
    raw = embed.weight[ids]
    assert torch.allclose(embed(ids), raw * 8**0.5), "Gemma's embed_tokens no longer scales by √h"
    with torch.no_grad():
        by_ids = model(input_ids=ids).logits
        by_embeds = model(inputs_embeds=embed(ids)).logits
    assert torch.allclose(by_ids, by_embeds, atol=1e-6), (
        "GemmaModel.forward treats inputs_embeds differently from input_ids (scales them again?)"
    )


def _check_hidden_act() -> None:
    import torch

    model = _tiny_gemma("gelu")
    act = model.model.layers[0].mlp.act_fn
    x = torch.linspace(-3, 3, 7)
    assert torch.allclose(act(x), torch.nn.functional.gelu(x)), (
        "GemmaMLP no longer reads config.hidden_act at construction (exact GELU not honoured)"
    )


def _check_clip_layout() -> None:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    model = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2
        )
    )
    keys = list(model.state_dict())
    assert keys and not any(k.startswith(CLIP_VISION_PREFIX) for k in keys), (
        f"CLIPVisionModel's state-dict keys changed layout: {keys[:3]}"
    )
    assert "embeddings.patch_embedding.weight" in keys, f"CLIPVisionModel keys: {keys[:3]}"


SEAMS = [
    Seam(
        "transformers CLIPVisionModel state-dict layout (no vision_model. prefix)",
        "loading MGM's CLIP tower keys (model.vision_tower.vision_tower.vision_model.*)",
        _check_clip_layout,
    ),
    Seam(
        "transformers GemmaTextScaledWordEmbedding / GemmaModel.forward (√hidden scale)",
        "scaling MGM's image features as the Gemma MGM was trained on did (models.mgm)",
        _check_embed_scale,
    ),
    Seam(
        "transformers GemmaConfig hidden_act rewrite / GemmaMLP.act_fn",
        "running MGM-Gemma with the exact GELU it was trained with (models.mgm.config)",
        _check_hidden_act,
    ),
]
