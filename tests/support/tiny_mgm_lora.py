"""An MGM LoRA training output, as MGM/LLaVA LoRA training writes it (test support).

A PEFT adapter on the language model only (``adapter_model.bin``; bare target names; a stale
``base_model_name_or_path``), the full MGM ``config.json``, and ``non_lora_trainables.bin`` (bf16
tensors under ``base_model.model.model.``: projectors, ``vlm_uni_*``, an unfrozen CLIP layer and
ConvNeXt block) whose values differ from the base's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from tests.support.tiny_mgm_world import (
    CLIP,
    CONVNEXT_WIDTHS,
    LORA_TARGETS,
    STALE_BASE,
    language_model_tensors,
    seeded,
    vision_side_tensors,
)


def build_mgm_lora_output(base_dir: Path, out_dir: Path, seed: int = 7) -> Path:
    """What MGM LoRA training writes: adapter (LM only, .bin), config.json, non-LoRA trainables."""
    from peft import LoraConfig, get_peft_model

    from lm_eval_ext.demo.tiny_world import randomize_lora_b

    config = json.loads((Path(base_dir) / "config.json").read_text())
    _, lm = language_model_tensors(config, seed=0)
    peft_model = get_peft_model(
        lm,
        LoraConfig(
            r=4, lora_alpha=8, lora_dropout=0.05, target_modules=LORA_TARGETS, task_type="CAUSAL_LM"
        ),
    )
    randomize_lora_b(peft_model, std=0.3, seed=seed)
    out_dir = Path(out_dir)
    peft_model.save_pretrained(out_dir, safe_serialization=False)
    adapter_config = json.loads((out_dir / "adapter_config.json").read_text())
    adapter_config["base_model_name_or_path"] = STALE_BASE
    (out_dir / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
    shutil.copy(Path(base_dir) / "config.json", out_dir / "config.json")
    gen = seeded(seed + 100)
    trainables = vision_side_tensors(gen, config["hidden_size"], config["mm_projector_type"])
    clip_fc = "model.vision_tower.vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight"
    trainables[clip_fc] = 0.2 * torch.randn(
        CLIP["intermediate_size"], CLIP["hidden_size"], generator=gen
    )
    aux_fc = "model.vision_tower_aux.vision_stages.3.blocks.0.mlp.fc2.weight"
    trainables[aux_fc] = 0.2 * torch.randn(
        CONVNEXT_WIDTHS[3], 4 * CONVNEXT_WIDTHS[3], generator=gen
    )
    torch.save(
        {"base_model.model." + k: v.to(torch.bfloat16) for k, v in trainables.items()},
        out_dir / "non_lora_trainables.bin",
    )
    return out_dir
