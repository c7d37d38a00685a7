"""Hub revisions: a branch or tag name resolved to the commit it points at, offline first."""

from __future__ import annotations

import re

COMMIT_SHA = re.compile(r"[0-9a-f]{40}")


def is_commit_sha(value: object) -> bool:
    """Whether ``value`` is a full 40-hex git commit id."""
    return isinstance(value, str) and COMMIT_SHA.fullmatch(value) is not None


def resolve_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit ``revision`` of hub repo ``repo_id`` points at, from the local hub cache.

    Returns None when the repo or revision is not in the cache (no network is used: a
    submission is packaged from what the run loaded).
    """
    if is_commit_sha(revision):
        return revision
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(repo_id, revision=revision or "main", local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure means "not resolvable offline"
        return None
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name if is_commit_sha(name) else None
