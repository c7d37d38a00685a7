"""A tiny random MGM saved in MGM's official checkpoint layout, and an MGM LoRA training output.

The checkpoint keys are written here, from MGM's layout, independently of the loader's own key
mapping: ``model.*``/``lm_head.*`` (language model), ``model.vision_tower.vision_tower.
vision_model.*`` (an HF CLIPVisionModel as transformers 4.x saved it),
``model.vision_tower_aux.vision_stem.*`` / ``.vision_stages.{i}.*`` (a timm
ConvNeXt's names), ``model.mm_projector.*``, ``model.vlm_uni_{query,aux,val}_projector.*``.

The LoRA output is what MGM/LLaVA LoRA training writes: a PEFT adapter on the language model only
(``adapter_model.bin``; bare target names; a stale ``base_model_name_or_path``), the full MGM
``config.json``, and ``non_lora_trainables.bin`` (bf16 tensors under ``base_model.model.model.``)
whose values differ from the base's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

CLIP = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    image_size=56,
    patch_size=14,
    projection_dim=32,
    hidden_act="quick_gelu",
)
CONVNEXT_WIDTHS, CONVNEXT_DEPTHS = [8, 16, 24, 32], [1, 1, 2, 1]
IMAGE_SIZE_AUX = 112
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
STALE_BASE = "./model_zoo/LLM/gemma/gemma-2b-it"


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def convnext_tensors(gen: torch.Generator, prefix: str) -> dict[str, torch.Tensor]:
    """Random ConvNeXt weights under timm's names (what open_clip's trunk saves)."""

    def rnd(*shape: int, std: float = 0.2, mean: float = 0.0) -> torch.Tensor:
        return torch.randn(shape, generator=gen) * std + mean

    w = CONVNEXT_WIDTHS
    t = {
        f"{prefix}vision_stem.0.weight": rnd(w[0], 3, 4, 4),
        f"{prefix}vision_stem.0.bias": rnd(w[0]),
        f"{prefix}vision_stem.1.weight": rnd(w[0], mean=1.0),
        f"{prefix}vision_stem.1.bias": rnd(w[0]),
    }
    for i, (dim, depth) in enumerate(zip(w, CONVNEXT_DEPTHS, strict=True)):
        stage = f"{prefix}vision_stages.{i}."
        if i:
            t.update(
                {
                    stage + "downsample.0.weight": rnd(w[i - 1], mean=1.0),
                    stage + "downsample.0.bias": rnd(w[i - 1]),
                    stage + "downsample.1.weight": rnd(dim, w[i - 1], 2, 2),
                    stage + "downsample.1.bias": rnd(dim),
                }
            )
        for j in range(depth):
            b = f"{stage}blocks.{j}."
            t.update(
                {
                    b + "conv_dw.weight": rnd(dim, 1, 7, 7),
                    b + "conv_dw.bias": rnd(dim),
                    b + "norm.weight": rnd(dim, mean=1.0),
                    b + "norm.bias": rnd(dim),
                    b + "mlp.fc1.weight": rnd(4 * dim, dim),
                    b + "mlp.fc1.bias": rnd(4 * dim),
                    b + "mlp.fc2.weight": rnd(dim, 4 * dim),
                    b + "mlp.fc2.bias": rnd(dim),
                    b + "gamma": rnd(dim, std=0.1, mean=0.5),
                }
            )
    return t


def _ln_linear(gen: torch.Generator, key: str, d_in: int, d_out: int) -> dict[str, torch.Tensor]:
    return {
        f"{key}.0.weight": 1 + 0.1 * torch.randn(d_in, generator=gen),
        f"{key}.0.bias": 0.1 * torch.randn(d_in, generator=gen),
        f"{key}.1.weight": 0.3 * torch.randn(d_out, d_in, generator=gen),
        f"{key}.1.bias": 0.1 * torch.randn(d_out, generator=gen),
    }


def vision_side_tensors(
    gen: torch.Generator, hidden: int, projector: str
) -> dict[str, torch.Tensor]:
    """``mm_projector`` + ``vlm_uni_*`` tensors in checkpoint keys."""
    mm, aux = CLIP["hidden_size"], sum(CONVNEXT_WIDTHS)
    t = {}
    t.update(_ln_linear(gen, "model.vlm_uni_query_projector", mm, mm))
    t.update(_ln_linear(gen, "model.vlm_uni_aux_projector", aux, mm))
    t.update(_ln_linear(gen, "model.vlm_uni_val_projector", aux, mm))
    if projector == "linear":
        t["model.mm_projector.weight"] = 0.3 * torch.randn(hidden, mm, generator=gen)
        t["model.mm_projector.bias"] = 0.1 * torch.randn(hidden, generator=gen)
    else:
        for i, d_in in ((0, mm), (2, hidden)):
            t[f"model.mm_projector.{i}.weight"] = 0.3 * torch.randn(hidden, d_in, generator=gen)
            t[f"model.mm_projector.{i}.bias"] = 0.1 * torch.randn(hidden, generator=gen)
    return t


def _lm_config(family: str, tokenizer) -> dict:
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        initializer_range=0.2,
        rms_norm_eps=1e-6,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        rope_theta=10000.0,
        torch_dtype="float32",
    )
    if family == "gemma":
        return dict(
            common,
            architectures=["MGMGemmaForCausalLM"],
            model_type="mgm_gemma",
            num_key_value_heads=1,
            head_dim=16,
            hidden_act="gelu",
            hidden_activation=None,
        )
    return dict(
        common,
        architectures=["MGMLlamaForCausalLM"],
        model_type="mgm",
        num_key_value_heads=4,
        hidden_act="silu",
        tie_word_embeddings=False,
    )


def mgm_config(family: str, tokenizer, clip_dir: Path, aux_dir: Path) -> dict:
    """A full MGM config.json dict (language-model fields + MGM's vision keys)."""
    projector = "mlp2x_gelu"  # as MGM ships (its builder indexes mm_projector[0])
    return dict(
        _lm_config(family, tokenizer),
        mm_vision_tower=str(clip_dir),
        mm_vision_tower_aux=str(aux_dir),
        mm_hidden_size=CLIP["hidden_size"],
        mm_hidden_size_aux=sum(CONVNEXT_WIDTHS),
        mm_projector_type=projector,
        mm_vision_select_layer=-2,
        mm_vision_select_feature="patch",
        image_aspect_ratio="pad",
        image_size_aux=IMAGE_SIZE_AUX,
        image_grid=1,
        image_global=False,
        mm_use_im_start_end=False,
        mm_use_im_patch_token=False,
        tokenizer_model_max_length=512,
        tokenizer_padding_side="right",
        optimize_vision_tower=False,
        optimize_vision_tower_aux=False,
        use_mm_proj=True,
    )


def build_towers(root: Path, seed: int = 3) -> tuple[Path, Path]:
    """A tiny HF CLIP tower dir and an open_clip ConvNeXt dir (the names MGM's builder wants)."""
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModel

    clip_dir, aux_dir = root / "clip-vit-tiny-openai", root / "openclip-convnext-large-d-320-tiny"
    clip_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    clip = CLIPVisionModel(CLIPVisionConfig(**CLIP)).state_dict()
    # transformers 4.x's layout (what hub CLIP checkpoints and MGM's own code use)
    save_file(
        {"vision_model." + k: v.contiguous() for k, v in clip.items()},
        str(clip_dir / "model.safetensors"),
        metadata={"format": "pt"},
    )
    (clip_dir / "config.json").write_text(
        json.dumps(
            dict(
                CLIP,
                architectures=["CLIPVisionModel"],
                model_type="clip_vision_model",
                num_channels=3,
                layer_norm_eps=1e-5,
                attention_dropout=0.0,
                initializer_range=0.02,
                initializer_factor=1.0,
                torch_dtype="float32",
            ),
            indent=2,
        )
    )
    (clip_dir / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "crop_size": {"height": 56, "width": 56},
                "size": {"shortest_edge": 56},
                "do_center_crop": True,
                "do_normalize": True,
                "do_resize": True,
                "do_rescale": True,
                "rescale_factor": 1 / 255,
                "resample": 3,
                "image_processor_type": "CLIPImageProcessor",
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
            }
        )
    )
    aux_dir.mkdir(parents=True, exist_ok=True)
    trunk = convnext_tensors(seeded(seed), "visual.trunk.")
    trunk = {
        k.replace("vision_stem", "stem").replace("vision_stages", "stages"): v
        for k, v in trunk.items()
    }
    torch.save(trunk, aux_dir / "open_clip_pytorch_model.bin")
    (aux_dir / "open_clip_config.json").write_text(
        json.dumps(
            {
                "model_cfg": {
                    "vision_cfg": {
                        "timm_model_name": "convnext_tiny_test",
                        "dims": CONVNEXT_WIDTHS,
                        "depths": CONVNEXT_DEPTHS,
                    }
                }
            }
        )
    )
    return clip_dir, aux_dir


def language_model_tensors(config: dict, seed: int) -> tuple[dict[str, torch.Tensor], object]:
    """A random transformers language model for ``config``: its checkpoint tensors and itself."""
    import transformers

    family = "gemma" if config["model_type"] == "mgm_gemma" else "llama"
    cfg_cls, lm_cls = {
        "gemma": (transformers.GemmaConfig, transformers.GemmaForCausalLM),
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
    }[family]
    fields = {k: v for k, v in config.items() if not k.startswith(("mm_", "image_"))}
    fields = {k: v for k, v in fields.items() if k not in ("model_type", "architectures")}
    torch.manual_seed(seed)
    lm = lm_cls(cfg_cls(**fields)).eval()
    tied = lm.config.tie_word_embeddings
    tensors = {
        k: v.clone() for k, v in lm.state_dict().items() if not (tied and k == "lm_head.weight")
    }
    return tensors, lm


def save_weights(tensors: dict[str, torch.Tensor], out_dir: Path, layout: str) -> None:
    """``single`` (model.safetensors), ``sharded`` (two shards + index) or ``bin``."""
    from safetensors.torch import save_file

    if layout == "bin":
        torch.save(tensors, out_dir / "pytorch_model.bin")
    elif layout == "single":
        save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    else:
        keys = sorted(tensors)
        shards = {
            "model-00001-of-00002.safetensors": [k for k in keys if "vision" not in k],
            "model-00002-of-00002.safetensors": [k for k in keys if "vision" in k],
        }
        weight_map = {}
        for name, shard_keys in shards.items():
            save_file(
                {k: tensors[k] for k in shard_keys}, str(out_dir / name), metadata={"format": "pt"}
            )
            weight_map.update(dict.fromkeys(shard_keys, name))
        (out_dir / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}, indent=1)
        )


def build_tiny_mgm(
    out_dir: Path,
    family: str,
    tokenizer_dir: Path,
    towers: tuple[Path, Path],
    layout: str = "single",
    seed: int = 0,
) -> Path:
    """A random tiny MGM checkpoint dir: config.json, weights in MGM's keys, tokenizer files."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = mgm_config(family, tokenizer, *towers)
    tensors, _ = language_model_tensors(config, seed)
    clip = load_file(str(towers[0] / "model.safetensors"))
    tensors.update({"model.vision_tower.vision_tower." + k: v for k, v in clip.items()})
    tensors.update(convnext_tensors(seeded(3), "model.vision_tower_aux."))
    tensors.update(
        vision_side_tensors(seeded(seed + 1), config["hidden_size"], config["mm_projector_type"])
    )
    save_weights(tensors, out_dir, layout)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))
    for file in Path(tokenizer_dir).iterdir():  # as written (portable tokenizer_config)
        shutil.copy(file, out_dir / file.name)
    return out_dir
