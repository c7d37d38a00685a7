"""One content hasher: the journal's digests, each file read once per (size, mtime, inode)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from lm_eval_ext.checkpoints.hashing import (
    CACHE_DIR_ENV,
    HashCache,
    default_cache_file,
    file_sha256,
    tree_fingerprint,
)
from tests.support.file_opens import record_opens


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A checkpoint-like dir with a nested file and the dirs a fingerprint skips."""
    root = tmp_path / "ckpt"
    (root / "sub").mkdir(parents=True)
    (root / "config.json").write_text('{"a": 1}')
    (root / "model.bin").write_bytes(bytes(range(256)) * 64)
    (root / "sub" / "vocab.txt").write_text("x\ny\n")
    for skipped in (".git", ".cache", "__pycache__"):
        (root / skipped).mkdir()
        (root / skipped / "junk").write_text(skipped)
    return root.resolve()


def _expected_fingerprint(root: Path, rels: list[str]) -> str:
    digest = hashlib.sha256()
    for rel in sorted(rels):
        sha = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        digest.update(f"{rel}\0{sha}\n".encode())
    return digest.hexdigest()


def test_tree_fingerprint_is_the_journal_digest(tree):
    """sha256 over ``relpath\\0sha\\n`` lines, .git/.cache/__pycache__ skipped: the digest of
    ``resume.keys`` (existing journals stay valid); a single file is keyed by its name."""
    expected = _expected_fingerprint(tree, ["config.json", "model.bin", "sub/vocab.txt"])
    assert tree_fingerprint(tree, {}) == expected
    single = tree / "sub" / "vocab.txt"
    assert tree_fingerprint(single, {}) == _expected_fingerprint(single.parent, ["vocab.txt"])


def test_unchanged_file_is_not_read_again_changed_one_is(tree, monkeypatch):
    cache: dict = {}
    path = tree / "model.bin"
    first = file_sha256(path, cache)
    assert first == hashlib.sha256(path.read_bytes()).hexdigest()
    st = path.stat()
    assert cache[str(path)] == [[st.st_size, st.st_mtime_ns, st.st_ino], first]
    opened = record_opens(monkeypatch)
    assert file_sha256(path, cache) == first
    assert str(path) not in opened
    path.write_bytes(b"new content")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert file_sha256(path, cache) == hashlib.sha256(b"new content").hexdigest()
    assert str(path) in opened


def test_the_journal_keys_models_through_the_user_level_cache(tree, monkeypatch):
    """A journal's model identity reads each checkpoint file once per content, across runs."""
    from lm_eval_ext.resume.storage.keys import model_identity

    cache = HashCache.load()
    first = model_identity({"pretrained": str(tree)}, cache)
    cache.save()
    opened = record_opens(monkeypatch)
    assert model_identity({"pretrained": str(tree)}, HashCache.load()) == first  # the next run
    assert not {p for p in opened if p.startswith(str(tree))}


def test_hash_cache_persists_and_forgets_deleted_files(tree, tmp_path, monkeypatch):
    file = tmp_path / "cache" / "file-hashes.json"
    cache = HashCache.load(file)
    assert cache == {} and cache.file == file
    tree_fingerprint(tree, cache)
    cache.save()
    stored = json.loads(file.read_text())
    assert str(tree / "model.bin") in stored and len(stored) == 3
    assert not list(file.parent.glob("*.tmp"))  # written through a renamed temp file

    opened = record_opens(monkeypatch)
    again = HashCache.load(file)
    assert file_sha256(tree / "model.bin", again) == stored[str(tree / "model.bin")][1]
    assert str(tree / "model.bin") not in opened
    (tree / "config.json").unlink()
    again.save()
    assert str(tree / "config.json") not in json.loads(file.read_text())


def test_save_merges_with_what_another_process_wrote(tree, tmp_path):
    file = tmp_path / "file-hashes.json"
    ours, theirs = HashCache.load(file), HashCache.load(file)
    file_sha256(tree / "model.bin", ours)
    file_sha256(tree / "config.json", theirs)
    theirs.save()
    ours.save()
    assert {str(tree / "model.bin"), str(tree / "config.json")} <= set(json.loads(file.read_text()))


def test_unwritable_cache_warns_once_and_keeps_hashes_in_memory(tree, tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    file = blocker / "file-hashes.json"
    cache = HashCache.load(file)
    file_sha256(tree / "model.bin", cache)
    with caplog.at_level("WARNING", logger="lm_eval_ext.checkpoints.hashing"):
        cache.save()
        cache.save()
    warnings = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(warnings) == 1 and str(file) in warnings[0].getMessage()
    assert str(tree / "model.bin") in HashCache.load(file)  # the same process still has it


def test_default_cache_file_location(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert default_cache_file() == tmp_path / "mine" / "file-hashes.json"
    monkeypatch.delenv(CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_file() == tmp_path / "xdg" / "lm_eval_ext" / "file-hashes.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_file() == tmp_path / "home" / ".cache" / "lm_eval_ext" / "file-hashes.json"
