"""Checkpoint-family dispatch: which wrapper class evaluates a checkpoint under ``mgm_lora``.

lm-eval builds every model through the classmethods ``create_from_arg_string`` /
``create_from_arg_obj``; ``MGMLoRALM``'s go through :func:`dispatching_constructor`, so one
model name serves several checkpoint families: :func:`model_class_for` picks the wrapper class
from the checkpoint's ``config.json`` architecture (the causal-LM class unless a family in
``ARCHITECTURE_CLASSES`` matches).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lm_eval.api.model import LM

#: ``config.json`` ``architectures[0]`` -> ``"module:Class"`` of the wrapper that evaluates it.
ARCHITECTURE_CLASSES: dict[str, str] = {
    # Qwen-VL families: images in generate_until and loglikelihood, LoRA merged (issue #6).
    "Qwen2VLForConditionalGeneration": "lm_eval_ext.models.qwen_vl:QwenVLLM",
    "Qwen2_5_VLForConditionalGeneration": "lm_eval_ext.models.qwen_vl:QwenVLLM",
    "Qwen3VLForConditionalGeneration": "lm_eval_ext.models.qwen_vl:QwenVLLM",
    "Qwen3VLMoeForConditionalGeneration": "lm_eval_ext.models.qwen_vl:QwenVLLM",
    # MGM (Mini-Gemini): its own loader, LoRA + non_lora_trainables merged (issue #13).
    "MGMGemmaForCausalLM": "lm_eval_ext.models.mgm.lm:MGMLM",
    "MGMLlamaForCausalLM": "lm_eval_ext.models.mgm.lm:MGMLM",
    "MGMMistralForCausalLM": "lm_eval_ext.models.mgm.lm:MGMLM",
    "MGMMixtralForCausalLM": "lm_eval_ext.models.mgm.lm:MGMLM",
}
#: ``config.json`` ``model_type`` -> wrapper, for configs without ``architectures``.
MODEL_TYPE_CLASSES: dict[str, str] = {
    name: "lm_eval_ext.models.mgm.lm:MGMLM"
    for name in ("mgm", "mgm_gemma", "mgm_mistral", "mgm_mixtral")
}


def checkpoint_config(pretrained: Any, revision: str | None = None) -> dict[str, Any]:
    """A checkpoint's ``config.json`` as a dict (local dir or hub id); ``{}`` if unknown.

    Read as JSON, not through ``AutoConfig``, which rejects model types transformers does not
    know (MGM's ``mgm_gemma``, ...).
    """
    if not isinstance(pretrained, str):
        return {}
    config_file = Path(pretrained).expanduser() / "config.json"
    if not config_file.is_file():
        from huggingface_hub import hf_hub_download

        try:
            config_file = Path(hf_hub_download(pretrained, "config.json", revision=revision))
        except Exception:  # noqa: BLE001 (the model class reports the real loading error)
            return {}
    try:
        return json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def checkpoint_architecture(pretrained: Any, revision: str | None = None) -> str | None:
    """``architectures[0]`` of a checkpoint's config (local dir or hub id), or None if unknown."""
    return (checkpoint_config(pretrained, revision).get("architectures") or [None])[0]


def model_class_for(default_cls: type, args: dict[str, Any]) -> type:
    """The wrapper class for the checkpoint named by ``args['pretrained']``."""
    config = checkpoint_config(args.get("pretrained"), args.get("revision"))
    arch = (config.get("architectures") or [None])[0]
    target = ARCHITECTURE_CLASSES.get(arch or "") or MODEL_TYPE_CLASSES.get(
        config.get("model_type") or ""
    )
    if target is None:
        return default_cls
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def dispatching_constructor(default_cls: type) -> Callable[..., LM]:
    """``make(**model_args)``: builds the wrapper class for the checkpoint the args name."""

    def make(**model_args: Any) -> LM:
        return model_class_for(default_cls, model_args)(**model_args)

    return make
