"""Validation of ``--model_args`` and of the local paths they name.

lm-eval forwards every unknown key of ``HFLM`` straight into ``from_pretrained``, so a typo such
as ``lorra=...`` surfaces (if at all) as an obscure transformers error. We check keys up front.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Iterable
from pathlib import Path

from lm_eval_ext.errors import CheckpointError, ModelArgsError

#: ``from_pretrained`` keyword arguments users legitimately pass through ``HFLM(**kwargs)``.
FROM_PRETRAINED_PASSTHROUGH = frozenset(
    {
        "attn_implementation",
        "device_map",
        "low_cpu_mem_usage",
        "load_in_8bit",
        "load_in_4bit",
        "bnb_4bit_quant_type",
        "bnb_4bit_compute_dtype",
        "bnb_4bit_use_double_quant",
        "use_safetensors",
        "cache_dir",
        "local_files_only",
        "token",
        "variant",
    }
)


def hflm_arg_names() -> frozenset[str]:
    """Names of the explicit keyword arguments of lm-eval's ``HFLM.__init__``."""
    from lm_eval.models.huggingface import HFLM

    params = inspect.signature(HFLM.__init__).parameters.values()
    return frozenset(p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD)


def check_known_args(model_name: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Raise :class:`ModelArgsError` for any key of ``given`` not in ``valid``.

    The message names the model, the bad key, the closest valid key and the full valid list.
    """
    valid = sorted(set(valid))
    unknown = [k for k in given if k not in valid]
    if not unknown:
        return
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=1)
        parts.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    raise ModelArgsError(
        f"{model_name}: unknown model arg {', '.join(parts)}. Valid model args: {', '.join(valid)}"
    )


def looks_like_local_path(name: str) -> bool:
    """True when ``name`` must be a local path rather than a hub id such as ``org/model``."""
    if os.path.exists(name):
        return True
    return (
        name.startswith(("/", "./", "../", "~"))
        or name.count("/") > 1
        or (os.sep != "/" and os.sep in name)
    )


def check_model_dir(arg: str, value: str) -> None:
    """Check a ``pretrained``-style value: a hub id passes, a local dir needs ``config.json``."""
    if not looks_like_local_path(value):
        return
    path = Path(value).expanduser()
    if not path.exists():
        raise CheckpointError(f"{arg}={value}: no such directory")
    if not path.is_dir():
        raise CheckpointError(f"{arg}={value}: is a file, expected a model directory")
    if not any(path.iterdir()):
        raise CheckpointError(f"{arg}={value}: directory is empty (no model files)")
    if not (path / "config.json").is_file():
        raise CheckpointError(
            f"{arg}={value}: no config.json in the directory; is this a Hugging Face "
            f"checkpoint (found: {', '.join(sorted(p.name for p in path.iterdir())[:8])})?"
        )


def check_adapter_dir(arg: str, value: str) -> None:
    """Check a ``lora``-style value: a hub id passes, a local dir needs ``adapter_config.json``."""
    if not looks_like_local_path(value):
        return
    path = Path(value).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"{arg}={value}: no such adapter directory")
    if not (path / "adapter_config.json").is_file():
        found = sorted(p.name for p in path.iterdir())[:8]
        raise CheckpointError(
            f"{arg}={value}: no adapter_config.json in the directory, so it is not a PEFT "
            f"adapter (found: {', '.join(found) or 'nothing'})"
        )
