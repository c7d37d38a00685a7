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
}


def checkpoint_architecture(pretrained: Any, revision: str | None = None) -> str | None:
    """``architectures[0]`` of a checkpoint's config (local dir or hub id), or None if unknown."""
    if not isinstance(pretrained, str):
        return None
    config_file = Path(pretrained).expanduser() / "config.json"
    if config_file.is_file():
        archs = json.loads(config_file.read_text()).get("architectures") or [None]
        return archs[0]
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(pretrained, revision=revision or "main")
    except (OSError, ValueError):
        return None  # the model class reports the real loading error with full context
    return (getattr(config, "architectures", None) or [None])[0]


def model_class_for(default_cls: type, args: dict[str, Any]) -> type:
    """The wrapper class for the checkpoint named by ``args['pretrained']``."""
    if not ARCHITECTURE_CLASSES:
        return default_cls
    arch = checkpoint_architecture(args.get("pretrained"), args.get("revision"))
    target = ARCHITECTURE_CLASSES.get(arch or "")
    if target is None:
        return default_cls
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def dispatching_constructor(default_cls: type) -> Callable[..., LM]:
    """``make(**model_args)``: builds the wrapper class for the checkpoint the args name."""

    def make(**model_args: Any) -> LM:
        return model_class_for(default_cls, model_args)(**model_args)

    return make
