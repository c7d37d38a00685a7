"""Fixtures shared by the resume layer's end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.lm_eval_runs import journaled_cli_args, run_lm_eval


@pytest.fixture(scope="session")
def clean_cli_run(tiny_world, tasks_dir, tmp_path_factory) -> Path:
    """The output of one uninterrupted journaled ``lm_eval`` run (the reference)."""
    out = tmp_path_factory.mktemp("clean_cli_run")
    run_lm_eval(journaled_cli_args(tiny_world, tasks_dir, out), cwd=out)
    return out
