"""Build an :class:`MGMForCausalLM` from a checkpoint directory (or hub id), every weight checked.

All weights come from the checkpoint, towers included. Only when a checkpoint has no weights at
all for a tower are they read from ``vision_tower=`` / ``vision_tower_aux=`` (model args) or the
config's ``mm_vision_tower`` / ``mm_vision_tower_aux``, when those name a local directory or a hub
id: an HF CLIP checkpoint (its ``vision_model.*``) and an open_clip ConvNeXt state dict
(``visual.trunk.stem.*`` / ``visual.trunk.stages.*``). Any missing or unexpected weight is an
error listing the keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lm_eval_ext._compat.transformers_mgm import CLIP_VISION_PREFIX
from lm_eval_ext.errors import CheckpointError, ModelArgsError
from lm_eval_ext.models.mgm.config import (
    MGMSettings,
    build_language_config,
    clip_vision_config,
    read_config_json,
)
from lm_eval_ext.models.mgm.convnext import convnext_shape
from lm_eval_ext.models.mgm.modeling import MGMForCausalLM
from lm_eval_ext.models.mgm.weights import (
    checkpoint_files,
    load_tensors,
    read_checkpoint,
    read_tensors,
    tied_keys,
)
from lm_eval_ext.models.model_args import looks_like_local_path

OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
SUPPORTED_FAMILIES = ("gemma", "llama")


@dataclass(frozen=True)
class TowerArgs:
    """Model args about the towers and the language model's activation."""

    vision_tower: str | None = None
    vision_tower_aux: str | None = None
    hidden_act: str | None = None


def local_dir(name: str, revision: str | None = None, patterns: list[str] | None = None) -> Path:
    """``name`` as a local directory: itself, or its hub snapshot (offline: the HF cache)."""
    path = Path(name).expanduser()
    if path.is_dir() or looks_like_local_path(name):
        if not path.is_dir():
            raise CheckpointError(f"{name}: no such directory")
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, revision=revision, allow_patterns=patterns))
    except Exception as exc:
        raise CheckpointError(
            f"{name}: neither a local directory nor a reachable hub id: {exc}"
        ) from exc


def resolve_dtype(dtype: Any, config: dict[str, Any]) -> torch.dtype:
    """``dtype`` model arg (``auto``: the config's ``torch_dtype``/``dtype``, else float32)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        dtype = config.get("torch_dtype") or config.get("dtype") or "float32"
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise ModelArgsError(f"dtype={dtype!r}: not a torch dtype")
    return value


def clip_tower_tensors(name: str) -> dict[str, torch.Tensor]:
    """CLIP vision weights (``vision_tower.*``) from an HF CLIP checkpoint dir or hub id."""
    root = local_dir(name, patterns=["*.json", "*.safetensors", "*.bin"])
    tensors = {}
    for file in checkpoint_files(root):
        for key, value in read_tensors(file).items():
            if key.startswith(CLIP_VISION_PREFIX) and not key.endswith(".position_ids"):
                tensors["vision_tower." + key[len(CLIP_VISION_PREFIX) :]] = value
    if not tensors:
        raise CheckpointError(f"vision_tower={name}: no CLIP vision weights (vision_model.*)")
    return tensors


def convnext_tower_tensors(name: str) -> dict[str, torch.Tensor]:
    """ConvNeXt weights (``vision_tower_aux.*``) from an open_clip checkpoint dir or hub id."""
    root = local_dir(name, patterns=["*.json", *OPEN_CLIP_FILES])
    file = next((root / f for f in OPEN_CLIP_FILES if (root / f).is_file()), None)
    if file is None:
        raise CheckpointError(f"vision_tower_aux={name}: none of {OPEN_CLIP_FILES} in {root}")
    renames = (("visual.trunk.stem.", "vision_stem."), ("visual.trunk.stages.", "vision_stages."))
    tensors = {}
    for key, value in read_tensors(file).items():
        for old, new in renames:
            if key.startswith(old):
                tensors["vision_tower_aux." + new + key[len(old) :]] = value
    if not tensors:
        raise CheckpointError(f"{file}: no ConvNeXt trunk weights (visual.trunk.stem/stages)")
    return tensors


def _add_missing_towers(
    tensors: dict[str, torch.Tensor], settings: MGMSettings, args: TowerArgs, source: str
) -> None:
    """Fill a tower absent from the checkpoint from the tower args / config names."""
    wanted = [("vision_tower.", args.vision_tower or settings.vision_tower, clip_tower_tensors)]
    if settings.has_aux:
        aux = args.vision_tower_aux or settings.vision_tower_aux
        wanted.append(("vision_tower_aux.", aux, convnext_tower_tensors))
    for prefix, name, read in wanted:
        if any(k.startswith(prefix) for k in tensors):
            continue
        arg = prefix.rstrip(".")
        try:
            tensors.update(read(name))
        except CheckpointError as exc:
            raise CheckpointError(
                f"{source}: the checkpoint has no {arg} weights (model.{arg}.*) and they cannot "
                f"be read from {name!r}: {exc}. Pass {arg}=DIR (a local tower checkpoint)."
            ) from exc


def load_mgm(
    pretrained: str,
    *,
    dtype: Any = "auto",
    device: str | torch.device = "cpu",
    revision: str | None = None,
    towers: TowerArgs = TowerArgs(),
) -> MGMForCausalLM:
    """Load an MGM checkpoint (single file or sharded, safetensors or .bin), strictly."""
    root = local_dir(pretrained, revision)
    raw = read_config_json(root)
    source = str(root)
    settings = MGMSettings.from_config(raw, source=f"{root / 'config.json'}")
    if settings.family not in SUPPORTED_FAMILIES:
        raise CheckpointError(
            f"{source}: MGM with a {settings.family} language model is not supported yet "
            f"(supported: {', '.join(SUPPORTED_FAMILIES)})"
        )
    tensors = read_checkpoint(root)
    _add_missing_towers(tensors, settings, towers, source)
    aux_shape = None
    if settings.has_aux:
        prefix = "vision_tower_aux."
        aux_shape = convnext_shape(
            (k[len(prefix) :], tuple(v.shape)) for k, v in tensors.items() if k.startswith(prefix)
        )
        if settings.mm_hidden_size_aux not in (None, sum(aux_shape[0])):
            raise CheckpointError(
                f"{source}: mm_hidden_size_aux={settings.mm_hidden_size_aux} but the ConvNeXt "
                f"in the checkpoint has {sum(aux_shape[0])} channels (widths {aux_shape[0]})"
            )
    clip_config = clip_vision_config(settings, towers.vision_tower)
    if clip_config.hidden_size != settings.mm_hidden_size:
        raise CheckpointError(
            f"{source}: mm_hidden_size={settings.mm_hidden_size} but the CLIP config has "
            f"hidden_size={clip_config.hidden_size}"
        )
    model = MGMForCausalLM(
        settings, build_language_config(raw, towers.hidden_act), clip_config, aux_shape
    )
    model.tie_weights()
    load_tensors(model, tensors, source, require_all=True, optional=tied_keys(model))
    return model.to(device=device, dtype=resolve_dtype(dtype, raw)).eval()
