"""A merged-weight cache: base + LoRA merged once, saved as a standard HF checkpoint.

``merged_cache=DIR`` makes the wrapper look for ``DIR/merge_manifest.json``. When it records
the same inputs (hashes of every base and adapter file, or hub id + revision for remote
ones), the merged checkpoint in ``DIR`` is loaded directly; otherwise the merge happens and
is written to ``DIR`` (weights as safetensors, config, tokenizer/processor files, manifest
last). ``DIR`` is an ordinary checkpoint: ``--model hf``/``hf-multimodal``/``vllm`` load it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MANIFEST = "merge_manifest.json"
_CHUNK = 1 << 20


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def source_fingerprint(source: str, revision: str | None = None) -> dict[str, Any]:
    """Hashes of every file of a local checkpoint dir, or the hub id + revision of a remote one."""
    path = Path(source).expanduser()
    if not path.is_dir():
        return {"hub_id": source, "revision": revision or "main"}
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != MANIFEST)
    return {"files": {str(p.relative_to(path)): _file_sha256(p) for p in files}}


def build_manifest(base: str, adapter: str, *, base_revision: str | None = None,
                   adapter_revision: str | None = None, dtype: Any = None) -> dict[str, Any]:
    """What a merged checkpoint was built from; equal manifests mean a reusable cache."""
    return {
        "format": 1,
        "base": source_fingerprint(base, base_revision),
        "adapter": source_fingerprint(adapter, adapter_revision),
        "dtype": str(dtype),
    }


class MergedCache:
    """One cache directory for one (base, adapter, dtype) merge.

    Args:
        cache_dir: where the merged checkpoint lives.
        base, adapter: the inputs (local dirs are hashed file by file).
        base_revision, adapter_revision: hub revisions, for remote inputs.
        dtype: the dtype the merge is done in (a cache in another dtype is not reused).
    """

    def __init__(self, cache_dir: str | Path, base: str, adapter: str, *,
                 base_revision: str | None = None, adapter_revision: str | None = None,
                 dtype: Any = None) -> None:
        self.path = Path(cache_dir).expanduser()
        self.manifest = build_manifest(base, adapter, base_revision=base_revision,
                                       adapter_revision=adapter_revision, dtype=dtype)

    def is_valid(self) -> bool:
        """True when ``path`` holds a complete merge of exactly these inputs."""
        file = self.path / MANIFEST
        if not file.is_file():
            return False
        try:
            stored = json.loads(file.read_text())
        except json.JSONDecodeError:
            return False
        if stored != self.manifest:
            logger.info("merged_cache=%s is stale (base or adapter changed); re-merging", self.path)
            return False
        return True

    def save(self, model: Any, preprocessors: Iterable[Any]) -> None:
        """Write the merged model and its tokenizer/processor, then the manifest (last).

        The checkpoint is written to a sibling temp dir and moved into place, so a crash
        never leaves a directory that looks complete.
        """
        tmp = self.path.with_name(self.path.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save_pretrained(tmp, safe_serialization=True)
        for item in preprocessors:
            item.save_pretrained(tmp)
        (tmp / MANIFEST).write_text(json.dumps(self.manifest, indent=1, sort_keys=True))
        if self.path.exists():
            shutil.rmtree(self.path)
        tmp.rename(self.path)
        logger.info("Saved merged checkpoint to merged_cache=%s", self.path)


def create_merged_model(
    lm: Any,
    load: Callable[..., None],
    pretrained: str,
    load_kwargs: dict[str, Any],
    preprocessors: Callable[[], list[Any]],
) -> None:
    """Set ``lm._model`` to ``pretrained`` + ``lm._lora`` merged, through ``lm._merged_cache``.

    Shared by the causal-LM and the VLM wrapper. ``load(name, **load_kwargs)`` is lm-eval's
    ``HFLM._create_model`` (it sets ``lm._model``); ``preprocessors()`` gives what to save next
    to the weights (tokenizer, processor).
    """
    from lm_eval_ext.models.lora_merge import merge_lora, resize_for_added_tokens

    cache = None
    if lm._lora and getattr(lm, "_merged_cache", None):
        cache = MergedCache(
            lm._merged_cache, pretrained, lm._lora, base_revision=load_kwargs.get("revision"),
            adapter_revision=lm._lora_revision, dtype=load_kwargs.get("dtype"),
        )
        if cache.is_valid():
            logger.info("Loading merged model from merged_cache=%s", cache.path)
            load(str(cache.path), **{**load_kwargs, "revision": "main"})
            return
    load(pretrained, **load_kwargs)
    if not lm._lora:
        return
    resize_for_added_tokens(lm._model, len(lm.tokenizer))
    lm._model = merge_lora(lm._model, lm._lora, revision=lm._lora_revision, base_name=pretrained)
    if cache is not None:
        cache.save(lm._model, preprocessors())


def adapter_model_info(lm: Any, info: dict[str, Any]) -> dict[str, Any]:
    """``info`` (lm-eval's model info) plus the merged adapter, for the results JSON."""
    if lm._lora:
        info["lora"] = lm._lora
        if lm._lora_revision:
            info["lora_revision"] = lm._lora_revision
    return info
