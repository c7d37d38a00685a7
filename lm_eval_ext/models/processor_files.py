"""The tokenizer/processor files of a checkpoint, found locally or in the hub cache, copied as-is.

A merged checkpoint must load with ``AutoProcessor``/``AutoTokenizer`` exactly as the checkpoint
its processor came from. Re-serialising the loaded objects does not give that: where torchvision
is missing we load an image-only processor, and saving it drops the video processor config, so
``AutoProcessor`` then fails on the copy even where it works on the original. Copying the
original files byte for byte keeps every sub-processor config, chat template and vocabulary.
"""

from __future__ import annotations

import fnmatch
import logging
import shutil
from pathlib import Path
from typing import Any

from lm_eval_ext.errors import CheckpointError

logger = logging.getLogger(__name__)

#: Files (relative to the checkpoint root) that make up its tokenizer and processor: anything
#: ``AutoProcessor``/``AutoTokenizer`` may read, none of the weights, model/generation configs.
PROCESSOR_FILE_PATTERNS: tuple[str, ...] = (
    # image, video and composite (nested, transformers >= 5) processor configs
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "processor_config.json",
    # chat templates: current layout, extra named templates, legacy processor layout
    "chat_template.jinja",
    "chat_templates/*.jinja",
    "chat_template.json",
    # tokenizers: fast, sentencepiece, BPE/WordPiece vocabularies, tiktoken
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab*",
    "merges.txt",
    "*.model",
    "*.tiktoken",
    # remote-code classes that the ``auto_map`` of those configs names
    "tokenization_*.py",
    "processing_*.py",
    "image_processing_*.py",
    "video_processing_*.py",
)

#: ``from_pretrained`` keyword arguments that also apply to fetching files from the hub cache.
HUB_KWARGS = ("cache_dir", "token", "local_files_only")


def is_processor_file(relative: str) -> bool:
    """True when ``relative`` (a POSIX path inside a checkpoint) is a tokenizer/processor file.

    A pattern only matches at its own depth, so ``*.model`` matches ``tokenizer.model`` but not
    ``original/tokenizer.model``.
    """
    depth = relative.count("/")
    return any(
        pattern.count("/") == depth and fnmatch.fnmatchcase(relative, pattern)
        for pattern in PROCESSOR_FILE_PATTERNS
    )


def processor_files(root: Path) -> dict[str, Path]:
    """The tokenizer/processor files under checkpoint directory ``root``, by relative path."""
    root = Path(root)
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and is_processor_file(relative):
            found[relative] = path
    return found


def _hub_snapshot(
    repo_id: str, revision: str | None, subfolder: str, hub_kwargs: dict[str, Any]
) -> Path:
    from huggingface_hub import snapshot_download

    prefix = f"{subfolder.strip('/')}/" if subfolder else ""
    try:
        snapshot = snapshot_download(
            repo_id,
            revision=revision,
            allow_patterns=[prefix + pattern for pattern in PROCESSOR_FILE_PATTERNS],
            **{k: v for k, v in hub_kwargs.items() if k in HUB_KWARGS and v is not None},
        )
    except OSError as exc:  # not cached offline, no such repo/revision, network errors
        raise CheckpointError(
            f"{repo_id} (revision {revision or 'main'}): cannot get its tokenizer/processor "
            f"files from the Hugging Face hub or its local cache: {exc}"
        ) from exc
    return Path(snapshot) / subfolder


def processor_dir(
    source: str, *, revision: str | None = None, subfolder: str = "", **hub_kwargs: Any
) -> Path:
    """The local directory holding the processor files of ``source`` (a dir or a hub id).

    A hub id resolves to its snapshot in the Hugging Face cache; only the processor files are
    downloaded, and offline (``HF_HUB_OFFLINE=1``) the cached snapshot is used as it is.

    Args:
        source: local checkpoint directory or hub id.
        revision: hub revision (ignored for a local directory).
        subfolder: the checkpoint's subfolder inside ``source``, if any.
        **hub_kwargs: ``cache_dir``, ``token``, ``local_files_only`` (others are ignored).
    """
    local = Path(source).expanduser()
    if local.is_dir():
        return local / subfolder
    return _hub_snapshot(source, revision, subfolder, hub_kwargs)


def copy_processor_files(source_dir: Path, target_dir: Path) -> list[str]:
    """Copy every tokenizer/processor file of ``source_dir`` into ``target_dir``, byte for byte.

    Returns:
        The relative paths copied.

    Raises:
        CheckpointError: ``source_dir`` has no tokenizer/processor file at all.
    """
    files = processor_files(source_dir)
    if not files:
        raise CheckpointError(
            f"{source_dir}: no tokenizer or processor files (tokenizer.json, "
            "tokenizer_config.json, preprocessor_config.json, ...) to copy next to the weights"
        )
    for relative, path in files.items():
        target = Path(target_dir) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)  # follows hub-cache symlinks to their blobs
    logger.debug("Copied processor files %s from %s", sorted(files), source_dir)
    return sorted(files)
