"""Fixtures shared by the resume layer's end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.completions_server import CompletionsServer, local_completions_args
from tests.support.lm_eval_runs import (
    SAMPLE_TASKS,
    evaluate_and_save,
    journaled_cli_args,
    run_lm_eval,
)


@pytest.fixture(scope="session")
def clean_cli_run(tiny_world, tasks_dir, tmp_path_factory) -> Path:
    """The output of one uninterrupted journaled ``lm_eval`` run (the reference)."""
    out = tmp_path_factory.mktemp("clean_cli_run")
    run_lm_eval(journaled_cli_args(tiny_world, tasks_dir, out), cwd=out)
    return out


@pytest.fixture()
def api_server(tiny_world) -> Iterator[CompletionsServer]:
    """The tiny model behind an OpenAI-compatible server on 127.0.0.1 (no faults, fresh counts)."""
    with CompletionsServer(tiny_world.model_dir) as server:
        yield server


@pytest.fixture(scope="session")
def api_reference(tiny_world, tasks_dir, tmp_path_factory) -> Path:
    """A fault-free ``local-completions`` run of the sample tasks without the journal."""
    out = tmp_path_factory.mktemp("api_reference")
    with CompletionsServer(tiny_world.model_dir) as server:
        evaluate_and_save(
            local_completions_args(server.base_url, tiny_world.model_dir),
            list(SAMPLE_TASKS),
            tasks_dir / "sample",
            out,
            model="local-completions",
            batch_size=1,
        )
    return out
