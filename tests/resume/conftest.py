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
)


@pytest.fixture(scope="session")
def clean_cli_run(tiny_world, tasks_dir, tmp_path_factory) -> Path:
    """The output of one uninterrupted journaled run with the CLI's arguments (the reference).

    In-process (``simple_evaluate`` + lm-eval's tracker, as the CLI does): the CLI runs under
    test are compared with it, and each ``lm_eval`` start costs ~9 s of task indexing.
    """
    out = tmp_path_factory.mktemp("clean_cli_run")
    args = journaled_cli_args(tiny_world, tasks_dir, out)
    model_args = args[args.index("--model_args") + 1]
    evaluate_and_save(model_args, list(SAMPLE_TASKS), tasks_dir / "sample", out)
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
