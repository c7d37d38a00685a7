"""Fixtures for the MGM tests: the tiny MGM world (built once per session) and request helpers."""

from __future__ import annotations

import pytest

from tests.support.mgm_world import MGMWorld, build_mgm_world


@pytest.fixture(scope="session")
def mgm_world(tmp_path_factory: pytest.TempPathFactory) -> MGMWorld:
    """Tiny Gemma/Llama MGMs (single, sharded, .bin), LoRA output, towers, images, MMBench TSV."""
    return build_mgm_world(tmp_path_factory.mktemp("mgm_world"))
