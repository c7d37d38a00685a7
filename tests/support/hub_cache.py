"""An offline Hugging Face hub cache (``HF_HUB_CACHE``) with one repo at two revisions.

Real runs name checkpoints as ``pretrained=org/name,revision=step-1`` and resolve them through
the hub cache; tests must do the same without a network. :func:`write_hub_repo` lays local
directories out exactly as ``huggingface_hub`` stores downloads (``models--org--name/`` with
``blobs/<sha>``, ``snapshots/<commit>/<file>`` symlinks and ``refs/<ref>`` holding the commit),
so ``hf_hub_download``/``snapshot_download(local_files_only=True)`` resolve a ref name to its
snapshot under ``HF_HUB_OFFLINE=1``. :func:`build_tiny_hub_cache` makes the standard fixture:
``org/tiny-ckpt`` whose ``main`` and ``step-1`` revisions have different tokenizers (vocabulary
sizes) and configs (``max_position_embeddings``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "REPO_ID",
    "REVISIONS",
    "HubCache",
    "build_tiny_hub_cache",
    "use_hub_cache",
    "write_hub_repo",
]

REPO_ID = "org/tiny-ckpt"
#: ref -> (tokenizer vocabulary size, max_position_embeddings)
REVISIONS = {"main": (512, 512), "step-1": (300, 1024)}


@dataclass(frozen=True)
class HubCache:
    """A built cache: its root (the ``HF_HUB_CACHE`` value), the repo and its revisions."""

    root: Path
    repo_id: str
    commits: dict[str, str]  # ref -> commit hash
    sources: dict[str, Path]  # ref -> the local directory its files were copied from

    def max_positions(self, ref: str) -> int:
        """``max_position_embeddings`` of the config at ``ref``."""
        return REVISIONS[ref][1]


def _git_blob_sha1(data: bytes) -> str:
    """The git object id of a file's bytes (what the hub names non-LFS blobs by)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def write_hub_repo(cache_root: Path, repo_id: str, revisions: Mapping[str, Path]) -> dict[str, str]:
    """Store each ``ref -> local dir`` as one commit of model repo ``repo_id`` in the cache.

    Returns:
        The commit hash of each ref (deterministic: derived from the repo, ref and files).
    """
    repo = Path(cache_root) / ("models--" + repo_id.replace("/", "--"))
    commits = {}
    for ref, source in revisions.items():
        files = sorted(p for p in Path(source).rglob("*") if p.is_file())
        digest = hashlib.sha1(f"{repo_id}@{ref}".encode())
        for path in files:
            digest.update(path.relative_to(source).as_posix().encode() + path.read_bytes())
        commit = digest.hexdigest()
        for path in files:
            data = path.read_bytes()
            blob = repo / "blobs" / _git_blob_sha1(data)
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(data)
            link = repo / "snapshots" / commit / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
        ref_file = repo / "refs" / ref
        ref_file.parent.mkdir(parents=True, exist_ok=True)
        ref_file.write_text(commit)  # the hub writes refs without a trailing newline
        commits[ref] = commit
    return commits


def _revision_dir(out_dir: Path, vocab_size: int, max_positions: int) -> Path:
    """A tokenizer of ``vocab_size`` tokens and a tiny Llama config (no weights needed)."""
    from transformers import LlamaConfig

    from lm_eval_ext.demo.tiny_world import build_tokenizer

    build_tokenizer(out_dir, vocab_size=vocab_size)
    LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
    ).save_pretrained(out_dir)
    return out_dir


def build_tiny_hub_cache(root: Path) -> HubCache:
    """``root/cache`` holding :data:`REPO_ID` at the refs of :data:`REVISIONS`."""
    sources = {
        ref: _revision_dir(Path(root) / "src" / ref, vocab, positions)
        for ref, (vocab, positions) in REVISIONS.items()
    }
    cache_root = Path(root) / "cache"
    commits = write_hub_repo(cache_root, REPO_ID, sources)
    return HubCache(root=cache_root, repo_id=REPO_ID, commits=commits, sources=sources)


def use_hub_cache(monkeypatch: pytest.MonkeyPatch, cache_root: Path) -> None:
    """Point this process (and its subprocesses) at ``cache_root``, offline.

    ``huggingface_hub`` reads ``HF_HUB_CACHE``/``HF_HUB_OFFLINE`` into ``constants`` once, at
    import; ``transformers`` and the download functions read those module attributes at call
    time. So the environment (for subprocesses) and the constants (for this process) are both
    patched, and real code paths run unchanged (no ``cache_dir=`` argument, as in real runs).
    """
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_CACHE", str(cache_root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache_root))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
