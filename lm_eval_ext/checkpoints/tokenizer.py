"""The evaluated model's tokenizer and config, resolved from its model args as ``HFLM`` does.

lm-eval's ``HFLM`` loads the tokenizer from ``tokenizer`` if given, else from ``pretrained``,
passing the model's ``revision``, ``subfolder`` and ``trust_remote_code`` in both cases (see
``HFLM._create_tokenizer``), and the config from ``pretrained`` at the same revision. Anything
that has to count tokens the way the model will (table prompt budgets, ``acc_norm_token``,
replay of chat-templated prompts) must resolve the same files, or an intermediate checkpoint
(``revision=step-125000``) would be measured with the main branch's tokenizer.

The lm_eval CLI merges ``--model_args`` into every task's ``metadata``, so the same mapping
works for a model-args dict and for task metadata.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lm_eval_ext.errors import CheckpointError, ModelArgsError

__all__ = ["TokenizerSource", "load_model_config", "load_tokenizer", "tokenizer_source"]

log = logging.getLogger(__name__)

#: written by ``lm_eval_ext.models.merged_cache`` next to a merged checkpoint (not imported:
#: this package must not depend on ``models``).
MERGE_MANIFEST = "merge_manifest.json"
_TRUE = {"true", "1", "yes", "on"}


@dataclass(frozen=True)
class TokenizerSource:
    """Everything ``AutoTokenizer.from_pretrained`` needs to load one tokenizer (hashable).

    ``local_copy`` is a valid ``merged_cache`` directory that holds this same tokenizer (the
    merge saves the tokenizer ``HFLM`` loaded); it is read instead of the hub when present.
    """

    name: str
    revision: str | None = None
    trust_remote_code: bool = False
    subfolder: str = ""
    use_fast: bool = True
    add_bos_token: bool | None = None
    gguf_file: str | None = None
    local_copy: str | None = None

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AutoTokenizer.from_pretrained`` (as ``HFLM`` builds them)."""
        kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        if self.local_copy is None:
            if self.revision is not None:
                kwargs["revision"] = self.revision
            if self.subfolder:
                kwargs["subfolder"] = self.subfolder
        if self.gguf_file is not None and self.local_copy is None:
            kwargs["gguf_file"] = self.gguf_file
        else:
            kwargs["use_fast"] = self.use_fast
        if self.add_bos_token is not None:
            kwargs["add_bos_token"] = self.add_bos_token
        return kwargs


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _revision(args: Mapping[str, Any]) -> str | None:
    value = args.get("revision")
    # The CLI's arg parser turns revision=1000 into an int; HFLM casts it back with str().
    return None if value is None or value == "" else str(value)


def tokenizer_source(args: Mapping[str, Any] | str) -> TokenizerSource | None:
    """The tokenizer that ``HFLM`` would load for these model args (or task metadata).

    ``tokenizer`` wins over ``pretrained``; ``revision``, ``subfolder``, ``trust_remote_code``,
    ``use_fast_tokenizer``, ``add_bos_token`` and ``gguf_file`` apply as in
    ``HFLM._create_tokenizer`` (the revision applies to a separately named tokenizer too).
    A plain string is a tokenizer name or directory. Returns ``None`` when no tokenizer is
    named (e.g. a model object passed in Python).
    """
    if isinstance(args, str):
        return TokenizerSource(name=args) if args else None
    named_tokenizer = _name(args.get("tokenizer"))
    name = named_tokenizer or _name(args.get("pretrained"))
    if name is None:
        return None
    revision = _revision(args)
    bos = args.get("add_bos_token")
    return TokenizerSource(
        name=name,
        revision=revision,
        trust_remote_code=_flag(args.get("trust_remote_code"), False),
        subfolder=str(args.get("subfolder") or ""),
        use_fast=_flag(args.get("use_fast_tokenizer"), True),
        add_bos_token=None if bos is None else _flag(bos, False),
        gguf_file=None if named_tokenizer else _name(args.get("gguf_file")),
        local_copy=None if named_tokenizer else merged_cache_copy(args, name, revision),
    )


def merged_cache_copy(args: Mapping[str, Any], pretrained: str, revision: str | None) -> str | None:
    """The ``merged_cache`` dir of these args when it was merged from hub ``pretrained@revision``.

    Only hub bases are matched (by id and revision, as the manifest records them): a local
    base directory is at hand anyway, and checking it would mean hashing every file.
    """
    cache_dir, lora = args.get("merged_cache"), args.get("lora")
    if not (isinstance(cache_dir, str) and cache_dir and lora) or Path(pretrained).exists():
        return None
    path = Path(cache_dir).expanduser()
    try:
        manifest = json.loads((path / MERGE_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    base = manifest.get("base") if isinstance(manifest, dict) else None
    if base != {"hub_id": pretrained, "revision": revision or "main"}:
        return None
    return str(path)


def load_tokenizer(args: Mapping[str, Any] | str | TokenizerSource) -> Any:
    """Load (once per process and source) the tokenizer named by model args or metadata.

    Args:
        args: a model-args dict, task metadata, a :class:`TokenizerSource`, or a plain
            tokenizer name / directory.

    Raises:
        ModelArgsError: no tokenizer is named (no ``pretrained``/``tokenizer`` string).
        CheckpointError: the tokenizer cannot be loaded (names the source and revision).
    """
    source = args if isinstance(args, TokenizerSource) else tokenizer_source(args)
    if source is None:
        raise ModelArgsError(
            "no tokenizer is named: pass model_args pretrained=... (or tokenizer=...), or "
            "metadata {'pretrained': ...} when building tasks in Python"
        )
    return _load_tokenizer(source)


@lru_cache(maxsize=8)
def _load_tokenizer(source: TokenizerSource) -> Any:
    from transformers import AutoTokenizer

    where = source.local_copy or source.name
    try:
        return AutoTokenizer.from_pretrained(where, **source.load_kwargs())
    except (OSError, ValueError) as err:
        raise CheckpointError(
            f"cannot load the tokenizer {where!r} (revision {source.revision or 'main'}): {err}"
        ) from err


def load_model_config(args: Mapping[str, Any]) -> Any:
    """The model config (``AutoConfig``) of ``pretrained`` at the model's ``revision``.

    Falls back to the tokenizer name when no ``pretrained`` string is given (metadata that
    only names a tokenizer). Cached per (name, revision, subfolder, trust_remote_code).

    Raises:
        ModelArgsError: neither ``pretrained`` nor ``tokenizer`` is named.
        CheckpointError: the config cannot be loaded.
    """
    name = _name(args.get("pretrained")) or _name(args.get("tokenizer"))
    if name is None:
        raise ModelArgsError("no model is named: pass model_args pretrained=...")
    revision = _revision(args)
    local_copy = merged_cache_copy(args, name, revision)
    return _load_config(
        local_copy or name,
        None if local_copy else revision,
        "" if local_copy else str(args.get("subfolder") or ""),
        _flag(args.get("trust_remote_code"), False),
    )


@lru_cache(maxsize=8)
def _load_config(name: str, revision: str | None, subfolder: str, trust_remote_code: bool) -> Any:
    from transformers import AutoConfig

    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if revision is not None:
        kwargs["revision"] = revision
    if subfolder:
        kwargs["subfolder"] = subfolder
    try:
        return AutoConfig.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as err:
        raise CheckpointError(
            f"cannot load the model config {name!r} (revision {revision or 'main'}): {err}"
        ) from err
