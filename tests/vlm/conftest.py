"""Fixtures for the Qwen-VL tests: a tiny offline Qwen2-VL world, built once per session."""

from __future__ import annotations

import pytest

from tests.support.tiny_vl_world import TinyVLWorld, build_vl_world


@pytest.fixture(scope="session")
def vl_world(tmp_path_factory: pytest.TempPathFactory) -> TinyVLWorld:
    """Tiny random Qwen2-VL + processor, LoRA adapter (language + merger), images, jsonl data."""
    return build_vl_world(tmp_path_factory.mktemp("vl_world"))
