"""The test sessions' cache of lm-eval's built-in task index changes nothing lm-eval sees."""

from __future__ import annotations

import logging
from pathlib import Path

import lm_eval_index_cache
import pytest
from lm_eval.tasks._index import TaskIndex


def _view(index: dict) -> list[tuple]:
    return [(n, e.kind, str(e.yaml_path), e.cfg, sorted(e.tags)) for n, e in index.items()]


def test_cached_index_equals_lm_evals_own(tasks_dir, tmp_path, caplog):
    if lm_eval_index_cache.cache_dir() is None:
        pytest.skip(
            "the index cache is switched off in this session (LM_EVAL_EXT_TEST_INDEX_CACHE)"
        )
    builtin = Path(TaskIndex.build.__wrapped__.__code__.co_filename).parent
    override = tmp_path / "override"
    override.mkdir()
    (override / "arc_easy.yaml").write_text("task: arc_easy\ndataset_path: local\n")
    paths = [builtin, tasks_dir, override]

    with caplog.at_level(logging.WARNING, logger="lm_eval.tasks._index"):
        own = TaskIndex.build.__wrapped__(paths)
    own_warnings = [r.getMessage() for r in caplog.records]
    caplog.clear()
    for _ in range(2):  # the session's cache (built now unless it was), then read back
        with caplog.at_level(logging.WARNING, logger="lm_eval.tasks._index"):
            cached = TaskIndex.build(paths)
        assert _view(cached) == _view(own)
        assert [r.getMessage() for r in caplog.records] == own_warnings
        caplog.clear()
    assert any("arc_easy" in w for w in own_warnings)
    assert len(list(lm_eval_index_cache.cache_dir().glob("builtin-*.pkl"))) == 1
