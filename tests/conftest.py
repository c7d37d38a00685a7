"""Shared fixtures: the offline tiny-model world, built once per test session."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

# Tiny models run fastest on one thread, and parallel threads on a 2-core runner that also
# runs lm_eval subprocesses oversubscribe it (measured 50x slower): before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
from pathlib import Path

import pytest

from lm_eval_ext.checkpoints.hashing import CACHE_DIR_ENV
from lm_eval_ext.demo.tiny_world import TinyWorld, build_world
from tests.support.hub_cache import HubCache, build_tiny_hub_cache, use_hub_cache
from tests.support.lm_eval_runs import OFFLINE_ENV

REPO_ROOT = Path(__file__).resolve().parents[1]
TASKS_DIR = REPO_ROOT / "tasks"
SITE_DIR = REPO_ROOT / "tests" / "support" / "site"  # sitecustomize for every subprocess

# Tests never reach a hub, and subprocesses inherit this.
os.environ.update(OFFLINE_ENV)
# In-process evaluations here are finalised explicitly; the lm_eval subprocesses of the e2e tests
# get the exit hook back (run_lm_eval).
os.environ["LM_EVAL_EXT_FINALIZE"] = "0"


_INDEX_DIR_CREATED: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """One cache of lm-eval's built-in task index per session (tests/support/site): the
    controller creates it before xdist workers start, and they and every subprocess inherit it."""
    sys.path.insert(0, str(SITE_DIR))
    import lm_eval_index_cache

    if lm_eval_index_cache.ENV not in os.environ:
        created = tempfile.mkdtemp(prefix="lm_eval_ext-index-")
        _INDEX_DIR_CREATED.append(created)
        os.environ[lm_eval_index_cache.ENV] = created
    paths = [str(SITE_DIR), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    lm_eval_index_cache.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the index cache this process created."""
    for created in _INDEX_DIR_CREATED:
        shutil.rmtree(created, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _file_hash_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The user-level file-hash cache goes to a session temp dir, never to ~/.cache."""
    os.environ[CACHE_DIR_ENV] = str(tmp_path_factory.mktemp("lm_eval_ext_cache"))


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> TinyWorld:
    """Tokenizer, tiny Llama, its LoRA adapter and a MC jsonl, under a session temp dir."""
    return build_world(tmp_path_factory.mktemp("tiny_world"))


@pytest.fixture(scope="session")
def tasks_dir() -> Path:
    """The repository's ``tasks/`` directory (for ``--include_path``)."""
    return TASKS_DIR


@pytest.fixture(scope="session")
def hub_cache_built(tmp_path_factory: pytest.TempPathFactory) -> HubCache:
    """The offline hub cache (``org/tiny-ckpt`` at ``main`` and ``step-1``), built once."""
    return build_tiny_hub_cache(tmp_path_factory.mktemp("hub_cache"))


@pytest.fixture()
def hub_cache(hub_cache_built: HubCache, monkeypatch: pytest.MonkeyPatch) -> HubCache:
    """The offline hub cache, active (``HF_HUB_CACHE``, ``HF_HUB_OFFLINE=1``) for one test.

    Activation is per test so that other tests keep the session's own cache settings; the
    loaders' per-source caches key on the revision, so nothing leaks between revisions.
    """
    use_hub_cache(monkeypatch, hub_cache_built.root)
    return hub_cache_built
