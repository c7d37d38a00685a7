"""MGM checkpoints on disk: reading (single file or sharded), key mapping, strict loading, saving.

MGM saves its whole model with ``save_pretrained``: language model under ``model.*`` /
``lm_head.*``, CLIP under ``model.vision_tower.vision_tower.vision_model.*`` (transformers 4.x's
CLIP layout), the ConvNeXt under
``model.vision_tower_aux.*``, and ``model.mm_projector.*`` / ``model.vlm_uni_*``.
:func:`to_module_key` / :func:`to_checkpoint_key` translate those keys to ours and back, so a
checkpoint loads as it is and a merged model is saved in the same layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lm_eval_ext._compat.transformers_mgm import CLIP_VISION_PREFIX
from lm_eval_ext.errors import CheckpointError

#: checkpoint prefix -> module prefix (first match wins; the rest is the language model's).
PREFIXES = (
    ("model.vision_tower.vision_tower." + CLIP_VISION_PREFIX, "vision_tower."),
    ("model.vision_tower_aux.", "vision_tower_aux."),
    ("model.mm_projector.", "mm_projector."),
    ("model.vlm_uni_", "vlm_uni_"),
)
#: tensors some checkpoints carry that no module stores (non-persistent buffers).
IGNORED_SUFFIXES = (".position_ids", "rotary_emb.inv_freq")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")


def to_module_key(key: str) -> str:
    """MGM checkpoint key -> our module's state-dict key."""
    for ckpt, mod in PREFIXES:
        if key.startswith(ckpt):
            return mod + key[len(ckpt) :]
    return "language_model." + key


def to_checkpoint_key(key: str) -> str:
    """Our module's state-dict key -> MGM checkpoint key."""
    if key.startswith("language_model."):
        return key[len("language_model.") :]
    for ckpt, mod in PREFIXES:
        if key.startswith(mod):
            return ckpt + key[len(mod) :]
    raise KeyError(key)


def checkpoint_files(directory: str | Path) -> list[Path]:
    """The weight files of a checkpoint dir: the shards its index names, or its single file."""
    root = Path(directory).expanduser()
    for name in INDEX_FILES:
        index = root / name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            missing = [s for s in shards if not (root / s).is_file()]
            if missing:
                raise CheckpointError(f"{index}: names shard(s) that are missing: {missing}")
            return [root / s for s in shards]
    for name in SINGLE_FILES:
        if (root / name).is_file():
            return [root / name]
    found = sorted(p.name for p in root.iterdir())[:10] if root.is_dir() else []
    raise CheckpointError(
        f"{root}: no weights ({', '.join(INDEX_FILES + SINGLE_FILES)}); found {found}"
    )


def read_tensors(file: Path) -> dict[str, torch.Tensor]:
    """All tensors of one ``.safetensors`` or ``.bin`` file (named errors)."""
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(file))
        return torch.load(str(file), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{file}: cannot read the weights: {exc}") from exc


def read_checkpoint(directory: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of an MGM checkpoint dir, keyed by our module keys."""
    tensors: dict[str, torch.Tensor] = {}
    for file in checkpoint_files(directory):
        for key, value in read_tensors(file).items():
            if not key.endswith(IGNORED_SUFFIXES):
                tensors[to_module_key(key)] = value
    return tensors


def _keys_list(keys: Iterable[str], limit: int = 12) -> str:
    keys = sorted(keys)
    shown = ", ".join(to_checkpoint_key_safe(k) for k in keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


def to_checkpoint_key_safe(key: str) -> str:
    """The checkpoint spelling of a module key, or the key itself if it has none."""
    try:
        return to_checkpoint_key(key)
    except KeyError:
        return key


def load_tensors(
    module: nn.Module,
    tensors: Mapping[str, torch.Tensor],
    source: str,
    *,
    require_all: bool,
    optional: Iterable[str] = (),
) -> None:
    """Copy ``tensors`` (module keys) into ``module``; every problem is an error naming ``source``.

    Args:
        module: the model.
        tensors: the tensors to load, by module key.
        source: the file or directory they came from (for messages).
        require_all: every module tensor must be given (a checkpoint), or only some (an update).
        optional: module keys that may be absent even when ``require_all`` (tied weights).
    """
    own = module.state_dict()
    unexpected = [k for k in tensors if k not in own]
    if unexpected:
        raise CheckpointError(
            f"{source}: {len(unexpected)} tensor(s) match no weight of this MGM model: "
            f"{_keys_list(unexpected)}"
        )
    wrong = [
        f"{to_checkpoint_key_safe(k)} {tuple(v.shape)} (model: {tuple(own[k].shape)})"
        for k, v in tensors.items()
        if v.shape != own[k].shape
    ]
    if wrong:
        raise CheckpointError(
            f"{source}: {len(wrong)} tensor(s) have another shape than the model's (another "
            f"model size?): {'; '.join(wrong[:8])}"
        )
    if require_all:
        missing = set(own) - set(tensors) - set(optional)
        if missing:
            raise CheckpointError(
                f"{source}: {len(missing)} weight(s) of the model are missing from the "
                f"checkpoint: {_keys_list(missing)}"
            )
    with torch.no_grad():
        for key, value in tensors.items():
            own[key].copy_(value.to(own[key].dtype))


def save_checkpoint(module: nn.Module, config: dict[str, Any], directory: str | Path) -> None:
    """Write ``config.json`` and ``model.safetensors`` in MGM's key layout (tied weights once)."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tied = set(tied_keys(module))
    tensors = {
        to_checkpoint_key(k): v.detach().contiguous().cpu()
        for k, v in module.state_dict().items()
        if k not in tied
    }
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def tied_keys(module: nn.Module) -> list[str]:
    """Module keys whose tensor is shared with an earlier key (the tied output embedding)."""
    seen: dict[int, str] = {}
    tied = []
    for key, value in module.state_dict(keep_vars=True).items():
        ptr = value.data_ptr()
        if ptr in seen:
            tied.append(key)
        else:
            seen[ptr] = key
    return tied
