"""An MGM LoRA training output merged into the model (LLaVA's LoRA recipe, done strictly).

MGM/LLaVA LoRA training writes ``adapter_model.{bin,safetensors}`` + ``adapter_config.json`` (the
language model only: PEFT is applied before the vision modules exist) and
``non_lora_trainables.bin`` (``base_model.model.model.mm_projector.*``, ``...vlm_uni_*``, any
unfrozen tower layers). The recipe: load the base, copy the non-LoRA trainables in, wrap with
PEFT, merge. Here PEFT wraps the *language model only*: the adapter's bare target names
(``q_proj``, ...) would also match CLIP's attention projections.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lm_eval_ext.errors import CheckpointError
from lm_eval_ext.models.lora_merge import merge_lora
from lm_eval_ext.models.mgm.modeling import MGMForCausalLM
from lm_eval_ext.models.mgm.weights import load_tensors, read_tensors, to_module_key

TRAINABLES_FILE = "non_lora_trainables.bin"
#: prefix of the PEFT-wrapped model's parameter names in ``non_lora_trainables.bin``.
PEFT_PREFIX = "base_model.model."


def trainables_key(key: str) -> str:
    """A ``non_lora_trainables.bin`` key as a checkpoint key (LLaVA's prefix stripping)."""
    return key[len(PEFT_PREFIX) :] if key.startswith(PEFT_PREFIX) else key


def apply_trainables(model: MGMForCausalLM, lora_dir: str | Path) -> int:
    """Copy ``non_lora_trainables.bin`` (if the adapter dir has one) into ``model``.

    Returns the number of tensors copied. Keys that match no weight, or tensors of another
    shape, are errors naming the file and the keys.
    """
    file = Path(lora_dir).expanduser() / TRAINABLES_FILE
    if not file.is_file():
        return 0
    raw = read_tensors(file)
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointError(f"{file}: expected a dict of tensors")
    tensors = {to_module_key(trainables_key(k)): v for k, v in raw.items()}
    load_tensors(model, tensors, str(file), require_all=False)
    return len(tensors)


def merge_mgm_lora(
    model: MGMForCausalLM, lora_dir: str, *, revision: str | None = None, base_name: str = ""
) -> MGMForCausalLM:
    """Trainables first, then the LoRA adapter merged into the language model (in place)."""
    apply_trainables(model, lora_dir)
    model.language_model = merge_lora(
        model.language_model, lora_dir, revision=revision, base_name=base_name
    )
    return model
