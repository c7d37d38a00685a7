"""Content hashes of checkpoint files, read once: a stat cache remembers every file's digest.

A file's sha256 is reused while its ``(size, mtime_ns, inode)`` is unchanged, so a run on an
unchanged 7B checkpoint stats its files instead of reading ~15 GB. The cache is any mutable
mapping ``absolute path -> [[size, mtime_ns, inode], sha256 hex]``: a plain ``dict`` (e.g. one
kept next to a resume journal) or a :class:`HashCache`, the user-level file
``$LM_EVAL_EXT_CACHE_DIR/file-hashes.json`` (default ``$XDG_CACHE_HOME/lm_eval_ext``, else
``~/.cache/lm_eval_ext``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "LM_EVAL_EXT_CACHE_DIR"
CACHE_FILE_NAME = "file-hashes.json"
#: Directories under a checkpoint root that are not part of its content.
SKIP_DIRS = frozenset({".git", ".cache", "__pycache__"})
_BLOCK = 1 << 22

#: Entries a process could not save (cache file not writable), by cache file: reused by
#: later :meth:`HashCache.load` calls of the same process.
_UNSAVED: dict[str, dict[str, Any]] = {}
_WARNED: set[str] = set()


def default_cache_file() -> Path:
    """The user-level hash cache file, from ``$LM_EVAL_EXT_CACHE_DIR`` / ``$XDG_CACHE_HOME``."""
    base = os.environ.get(CACHE_DIR_ENV)
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        base = os.path.join(xdg, "lm_eval_ext")
    return Path(base).expanduser() / CACHE_FILE_NAME


def _read_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str], cache: MutableMapping[str, Any]) -> str:
    """sha256 hex digest of the file at ``path``, from ``cache`` while its stat is unchanged.

    Args:
        path: the file (relative paths are made absolute; symlinks are followed for the
            content and the stat, but the cache is keyed on the link's own path).
        cache: ``absolute path -> [[size, mtime_ns, inode], sha256]``; updated on a miss.
    """
    key = os.path.abspath(path)
    st = os.stat(key)
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
    hit = cache.get(key)
    if hit and list(hit[0]) == stamp:
        return hit[1]
    digest = _read_sha256(key)
    cache[key] = [stamp, digest]
    return digest


def tree_files(root: Path) -> list[Path]:
    """Every file under directory ``root``, sorted, without those in :data:`SKIP_DIRS`."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not SKIP_DIRS.intersection(p.relative_to(root).parts)
    )


def tree_fingerprint(root: str | os.PathLike[str], cache: MutableMapping[str, Any]) -> str:
    """sha256 over ``relpath\\0sha256\\n`` of every file under ``root`` (or of ``root``, a file).

    The digest the resume journal keys model identities on; ``cache`` is as for
    :func:`file_sha256` (a plain dict works).
    """
    root = Path(root).expanduser().resolve()
    files = [root] if root.is_file() else tree_files(root)
    digest = hashlib.sha256()
    for path in files:
        rel = path.name if path == root else path.relative_to(root).as_posix()
        digest.update(f"{rel}\0{file_sha256(path, cache)}\n".encode())
    return digest.hexdigest()


def _read_entries(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        k: v
        for k, v in data.items()
        if isinstance(v, list) and len(v) == 2 and isinstance(v[0], list)
    }


class HashCache(dict):
    """A stat cache persisted in one JSON file (see :func:`file_sha256` for the entries).

    Args:
        file: the JSON file it is loaded from and saved to.
        entries: initial entries.
    """

    def __init__(self, file: str | os.PathLike[str], entries: dict[str, Any] | None = None) -> None:
        super().__init__(entries or {})
        self.file = Path(file)

    @classmethod
    def load(cls, file: str | os.PathLike[str] | None = None) -> HashCache:
        """The cache stored in ``file`` (default: :func:`default_cache_file`), {} if unreadable."""
        path = Path(file) if file is not None else default_cache_file()
        cache = cls(path, _read_entries(path))
        cache.update(_UNSAVED.get(str(path), {}))
        return cache

    def save(self) -> None:
        """Merge these entries into the file (atomic rename), dropping files that are gone.

        Concurrent processes each merge into what is on disk, so at worst a race loses some
        entries (they are recomputed). Where the file cannot be written, a warning is logged
        once and the entries stay in this process's memory.
        """
        merged = {**_read_entries(self.file), **self}
        merged = {k: v for k, v in merged.items() if os.path.exists(k)}
        tmp = None
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.file.parent, prefix=self.file.name, suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                json.dump(merged, fh, separators=(",", ":"))
            os.replace(tmp, self.file)
        except OSError as exc:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            _UNSAVED.setdefault(str(self.file), {}).update(self)
            if str(self.file) not in _WARNED:
                _WARNED.add(str(self.file))
                log.warning(
                    "file-hash cache %s cannot be written (%s); keeping file hashes in "
                    "memory for this process (set %s to a writable directory)",
                    self.file,
                    exc,
                    CACHE_DIR_ENV,
                )
