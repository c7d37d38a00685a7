"""Fixtures for the table-QA tests: the tiny world's tokenizer and the hand-made tables."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tables"


@pytest.fixture(scope="session")
def tokenizer(tiny_world):
    """The tiny world's byte-level BPE tokenizer (no chat template)."""
    from lm_eval_ext.tables.tokens import load_tokenizer

    return load_tokenizer(str(tiny_world.tokenizer_dir))


@pytest.fixture(scope="session")
def table_fixtures() -> Path:
    """``tests/fixtures/tables`` (read-only)."""
    return FIXTURES
