"""MGM's ``config.json``: the language-model family, the towers and the image settings.

``AutoConfig`` rejects MGM's model types (``mgm``, ``mgm_gemma``, ``mgm_mistral``,
``mgm_mixtral``), so the JSON is read as is: the language-model fields build a transformers
config of the matching family, the ``mm_*`` / ``image_*`` keys build :class:`MGMSettings`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lm_eval_ext._compat.transformers_mgm import set_hidden_act
from lm_eval_ext.errors import CheckpointError, ModelArgsError

#: ``model_type`` -> language-model family (MGM's Llama/Vicuna/Yi models use plain ``mgm``).
MODEL_TYPE_FAMILIES = {
    "mgm": "llama",
    "mgm_gemma": "gemma",
    "mgm_mistral": "mistral",
    "mgm_mixtral": "mixtral",
}
#: ``architectures[0]`` -> family (wins over ``model_type`` when both are present).
ARCHITECTURE_FAMILIES = {
    "MGMLlamaForCausalLM": "llama",
    "MGMGemmaForCausalLM": "gemma",
    "MGMMistralForCausalLM": "mistral",
    "MGMMixtralForCausalLM": "mixtral",
}
#: keys of MGM's config that are not the language model's.
MGM_KEYS_PREFIXES = ("mm_", "image_", "vlm_", "optimize_vision", "tokenizer_", "tune_mm")

#: openai/clip-vit-large-patch14-336's vision config (used when ``mm_vision_tower`` names no
#: local directory: the hub name MGM configs carry, or MGM's relative ``model_zoo/...`` path).
CLIP_L_336 = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=336,
    patch_size=14,
    projection_dim=768,
    hidden_act="quick_gelu",
    layer_norm_eps=1e-5,
)


def is_mgm_config(config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` dict describes an MGM checkpoint."""
    archs = config.get("architectures") or [None]
    return archs[0] in ARCHITECTURE_FAMILIES or config.get("model_type") in MODEL_TYPE_FAMILIES


def read_config_json(directory: str | Path) -> dict[str, Any]:
    """``config.json`` of a local checkpoint directory as a dict (named errors)."""
    file = Path(directory).expanduser() / "config.json"
    if not file.is_file():
        raise CheckpointError(f"pretrained={directory}: no config.json in the directory")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{file}: not valid JSON ({exc})") from exc


def language_family(config: dict[str, Any], source: str = "config.json") -> str:
    """``gemma`` / ``llama`` / ``mistral`` / ``mixtral`` for an MGM config."""
    archs = config.get("architectures") or [None]
    family = ARCHITECTURE_FAMILIES.get(archs[0]) or MODEL_TYPE_FAMILIES.get(
        config.get("model_type")
    )
    if family is None:
        raise CheckpointError(
            f"{source}: not an MGM config (model_type={config.get('model_type')!r}, "
            f"architectures={archs}); expected one of {sorted(MODEL_TYPE_FAMILIES)}"
        )
    return family


def build_language_config(config: dict[str, Any], hidden_act: str | None = None) -> Any:
    """The transformers config of the language model inside an MGM config.

    Gemma: ``hidden_act="gelu"`` is kept as *exact* GELU (what MGM trained and evaluated with,
    on transformers 4.38) unless the config sets ``hidden_activation`` or ``hidden_act=`` is
    given; current transformers would silently switch it to the tanh form.
    """
    import transformers

    family = language_family(config)
    cls = {
        "gemma": transformers.GemmaConfig,
        "llama": transformers.LlamaConfig,
        "mistral": transformers.MistralConfig,
        "mixtral": transformers.MixtralConfig,
    }[family]
    drop = {"model_type", "architectures", "auto_map", "transformers_version", "_name_or_path"}
    fields = {
        k: v for k, v in config.items() if k not in drop and not k.startswith(MGM_KEYS_PREFIXES)
    }
    lm_config = cls(**fields)
    act = hidden_act or config.get("hidden_activation") or config.get("hidden_act")
    if act:
        set_hidden_act(lm_config, act)
    return lm_config


@dataclass(frozen=True)
class MGMSettings:
    """The vision side of an MGM config (every key that changes MGM's numbers)."""

    family: str
    vision_tower: str | None
    vision_tower_aux: str | None
    mm_hidden_size: int
    mm_hidden_size_aux: int | None
    projector_type: str = "linear"
    select_layer: int = -2
    select_feature: str = "patch"
    image_aspect_ratio: str | None = "pad"
    image_size_aux: int | None = None
    image_grid: int = 1
    image_global: bool = False
    use_im_start_end: bool = False
    max_length: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_config(cls, config: dict[str, Any], source: str = "config.json") -> MGMSettings:
        """Read and check the vision keys of an MGM ``config.json`` dict."""
        if not config.get("mm_vision_tower"):
            raise CheckpointError(f"{source}: no mm_vision_tower; this MGM config has no vision")
        for key in ("mm_hidden_size", "hidden_size"):
            if not isinstance(config.get(key), int):
                raise CheckpointError(f"{source}: {key} missing or not an integer")
        settings = cls(
            family=language_family(config, source),
            vision_tower=config["mm_vision_tower"],
            vision_tower_aux=config.get("mm_vision_tower_aux"),
            mm_hidden_size=config["mm_hidden_size"],
            mm_hidden_size_aux=config.get("mm_hidden_size_aux"),
            projector_type=config.get("mm_projector_type", "linear"),
            select_layer=config.get("mm_vision_select_layer", -2),
            select_feature=config.get("mm_vision_select_feature", "patch"),
            image_aspect_ratio=config.get("image_aspect_ratio"),
            image_size_aux=config.get("image_size_aux"),
            image_grid=int(config.get("image_grid") or 1),
            image_global=bool(config.get("image_global", False)),
            use_im_start_end=bool(config.get("mm_use_im_start_end", False)),
            max_length=config.get("tokenizer_model_max_length"),
            raw=config,
        )
        settings.check(source)
        return settings

    @property
    def has_aux(self) -> bool:
        """Whether the config has the high-resolution (ConvNeXt) tower."""
        return bool(self.vision_tower_aux)

    def check(self, source: str) -> None:
        """Refuse settings whose math this loader does not implement."""
        if self.projector_type not in ("linear", "mlp2x_gelu"):
            raise CheckpointError(
                f"{source}: mm_projector_type={self.projector_type!r} is not supported "
                "(linear, mlp2x_gelu)"
            )
        if self.select_feature not in ("patch", "cls_patch"):
            raise CheckpointError(f"{source}: mm_vision_select_feature={self.select_feature!r}")
        if self.has_aux and self.select_feature != "patch":
            raise CheckpointError(
                f"{source}: patch info mining needs mm_vision_select_feature='patch' "
                f"(a square grid of tokens), got {self.select_feature!r}"
            )
        if self.image_global and self.image_grid < 2:
            raise CheckpointError(f"{source}: image_global needs image_grid >= 2")
        if self.has_aux and not self.image_size_aux:
            raise CheckpointError(f"{source}: mm_vision_tower_aux without image_size_aux")


def clip_vision_config(settings: MGMSettings, vision_tower: str | None = None) -> Any:
    """The CLIP vision config: from a local HF CLIP directory when one is named, else ViT-L/336.

    ``vision_tower`` (model arg) wins over the config's ``mm_vision_tower``.
    """
    from transformers import CLIPVisionConfig

    name = vision_tower or settings.vision_tower
    local = Path(name).expanduser() if name else None
    if local is not None and (local / "config.json").is_file():
        return CLIPVisionConfig.from_pretrained(str(local))
    if vision_tower and local is not None and local.exists():
        raise ModelArgsError(f"vision_tower={vision_tower}: no config.json in the directory")
    return CLIPVisionConfig(**CLIP_L_336)
