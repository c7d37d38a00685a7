"""A merged-weight cache: base + LoRA merged once, saved as a standard HF checkpoint.

``merged_cache=DIR`` makes the wrapper look for ``DIR/merge_manifest.json``. When it records
the same inputs (hashes of every base and adapter file, or hub id + revision for remote
ones), the merged checkpoint in ``DIR`` is loaded directly; otherwise the merge happens and
is written to ``DIR``: weights as safetensors and config from the merged model, the
tokenizer/processor files copied byte for byte from the checkpoint the processor was loaded from
(the base, or ``tokenizer=``), and the manifest last. ``DIR`` is then an ordinary checkpoint that
loads exactly like the base: ``--model hf``/``vllm`` for a causal LM,
``--model hf-multimodal``/``vllm`` for Qwen-VL.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

from lm_eval_ext.checkpoints.hashing import HashCache, file_sha256
from lm_eval_ext.errors import CheckpointError
from lm_eval_ext.models.processor_files import HUB_KWARGS, copy_processor_files, processor_dir

logger = logging.getLogger(__name__)

MANIFEST = "merge_manifest.json"


def source_fingerprint(
    source: str, revision: str | None = None, hash_cache: MutableMapping[str, Any] | None = None
) -> dict[str, Any]:
    """Hashes of every file of a local checkpoint dir, or the hub id + revision of a remote one.

    ``hash_cache`` (see ``checkpoints.hashing``) spares re-reading files whose stat is unchanged.
    """
    path = Path(source).expanduser()
    if not path.is_dir():
        return {"hub_id": source, "revision": revision or "main"}
    cache = {} if hash_cache is None else hash_cache
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != MANIFEST)
    return {"files": {str(p.relative_to(path)): file_sha256(p, cache) for p in files}}


def build_manifest(
    base: str,
    adapter: str,
    *,
    base_revision: str | None = None,
    adapter_revision: str | None = None,
    dtype: Any = None,
    tokenizer: str | None = None,
    hash_cache: MutableMapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a merged checkpoint was built from; equal manifests mean a reusable cache.

    ``tokenizer`` is a tokenizer/processor checkpoint other than the base (``tokenizer=``): its
    size decides the embedding resize and its files are copied, so it is an input too.
    """

    def fingerprint(source: str, revision: str | None) -> dict[str, Any]:
        return source_fingerprint(source, revision, hash_cache)

    # format 2: processor files copied from their checkpoint (format 1 re-serialised them)
    return {
        "format": 2,
        "base": fingerprint(base, base_revision),
        "adapter": fingerprint(adapter, adapter_revision),
        "tokenizer": tokenizer and fingerprint(tokenizer, base_revision),
        "dtype": str(dtype),
    }


class MergedCache:
    """One cache directory for one (base, adapter, dtype) merge.

    Args:
        cache_dir: where the merged checkpoint lives.
        base, adapter: the inputs (local dirs are hashed file by file).
        base_revision, adapter_revision: hub revisions, for remote inputs.
        dtype: the dtype the merge is done in (a cache in another dtype is not reused).
        tokenizer: the tokenizer/processor checkpoint, when it is not the base.
        hash_cache: stat cache of file hashes; default the user-level one
            (:meth:`HashCache.load`), saved once the inputs are hashed.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        base: str,
        adapter: str,
        *,
        base_revision: str | None = None,
        adapter_revision: str | None = None,
        dtype: Any = None,
        tokenizer: str | None = None,
        hash_cache: HashCache | None = None,
    ) -> None:
        self.path = Path(cache_dir).expanduser()
        hashes = HashCache.load() if hash_cache is None else hash_cache
        self.manifest = build_manifest(
            base,
            adapter,
            base_revision=base_revision,
            adapter_revision=adapter_revision,
            dtype=dtype,
            tokenizer=tokenizer,
            hash_cache=hashes,
        )
        hashes.save()

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

    def save(
        self, model: Any, processor_files_dir: Path | None = None, preprocessors: Iterable[Any] = ()
    ) -> None:
        """Write the merged model and its tokenizer/processor, then the manifest (last).

        Args:
            model: the merged model (weights and config come from its ``save_pretrained``).
            processor_files_dir: checkpoint dir whose tokenizer/processor files are copied.
            preprocessors: objects to ``save_pretrained`` instead, where there are no files
                (a tokenizer object passed in Python).

        The checkpoint is written to a sibling temp dir and moved into place, so a crash
        never leaves a directory that looks complete.
        """
        tmp = self.path.with_name(self.path.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            if processor_files_dir is not None:
                copy_processor_files(processor_files_dir, tmp)
            for item in preprocessors:
                item.save_pretrained(tmp)
            model.save_pretrained(tmp, safe_serialization=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (tmp / MANIFEST).write_text(json.dumps(self.manifest, indent=1, sort_keys=True))
        if self.path.exists():
            shutil.rmtree(self.path)
        tmp.rename(self.path)
        logger.info("Saved merged checkpoint to merged_cache=%s", self.path)

    def save_or_warn(
        self,
        model: Any,
        source: str | None,
        load_kwargs: dict[str, Any],
        preprocessors: Callable[[], list[Any]],
    ) -> None:
        """:meth:`save`, or only warn: the evaluation goes on with the merged model either way.

        Args:
            model: the merged model.
            source: checkpoint (dir or hub id) the tokenizer/processor was loaded from; its
                files are copied. None: ``preprocessors()`` gives the objects to save instead.
            load_kwargs: the model's ``from_pretrained`` kwargs (``revision``, ``subfolder``,
                hub kwargs), to find ``source``'s files.
            preprocessors: the tokenizer/processor objects, asked for only when needed.
        """
        try:
            if source is None:
                self.save(model, preprocessors=preprocessors())
                return
            files_dir = processor_dir(
                source,
                revision=load_kwargs.get("revision"),
                subfolder=load_kwargs.get("subfolder") or "",
                **{k: load_kwargs.get(k) for k in HUB_KWARGS},
            )
            self.save(model, processor_files_dir=files_dir)
        except CheckpointError as exc:
            logger.warning("merged_cache=%s not written: %s", self.path, exc)
