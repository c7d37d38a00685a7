"""``local-completions`` through the journal, killed and rerun, or run twice at once, against a
real server on 127.0.0.1 that counts what it answered (what a provider would bill)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lm_eval_ext.errors import JournalLockedError
from lm_eval_ext.resume.storage.journal import close_open_journals, load_entries
from tests.resume.test_api_journal import (
    CLI_LAUNCH_FIELDS,
    N_REQUESTS,
    _answered_exactly_once,
    _same_as_reference,
)
from tests.support.completions_server import CompletionsServer, FaultPlan, local_completions_args
from tests.support.lm_eval_runs import (
    OFFLINE_ENV,
    SAMPLE_TASKS,
    evaluate_and_save,
    run_lm_eval,
    start_lm_eval,
)

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
NUM_CONCURRENT = 4
KILL_AT = 40  # the server kills the client before sending its 40th answer


def _cli_args(server: CompletionsServer, world, tasks_dir: Path, out: Path) -> list[str]:
    model_args = local_completions_args(
        server.base_url, world.model_dir, num_concurrent=NUM_CONCURRENT, journal=out / "journal"
    )
    return [
        *("--model", "local-completions", "--model_args", model_args),
        *("--tasks", ",".join(SAMPLE_TASKS), "--include_path", str(tasks_dir / "sample")),
        *("--batch_size", "1", "--log_samples", "--output_path", str(out)),
    ]


def test_killed_cli_run_resumes_paying_again_only_for_requests_in_flight(
    api_server, tiny_world, tasks_dir, tmp_path, api_reference
):
    out = tmp_path / "out"
    args = _cli_args(api_server, tiny_world, tasks_dir, out)
    proc: list[subprocess.Popen] = []

    def kill_client(n: int) -> None:
        if n == KILL_AT:  # SIGKILL while other requests are in flight, as a pre-emption would
            os.kill(proc[0].pid, signal.SIGKILL)

    api_server.on_answer = kill_client
    proc.append(start_lm_eval(args, cwd=tmp_path))
    _, stderr = proc[0].communicate(timeout=600)
    assert proc[0].returncode == -signal.SIGKILL, stderr[-3000:]
    journaled = len(load_entries(out / "journal")[0])
    # killed around answer 40: what had arrived was journaled at once, not at a chunk's end
    assert KILL_AT - NUM_CONCURRENT <= journaled <= KILL_AT + NUM_CONCURRENT

    api_server.on_answer = None
    run_lm_eval(args, cwd=tmp_path)
    answered = api_server.traffic.answered
    assert len(answered) == N_REQUESTS and max(answered.values()) <= 2
    # paid twice: answers the client did not live to journal, at most one per request slot
    assert sum(n - 1 for n in answered.values()) <= NUM_CONCURRENT
    _same_as_reference(out, api_reference, CLI_LAUNCH_FIELDS)


def test_a_second_run_on_the_same_output_refuses_and_sends_nothing(
    tiny_world, tasks_dir, tmp_path, api_reference
):
    """The first run is held on its first answer until the second one has been refused."""
    second_done, first_answering = threading.Event(), threading.Event()

    def hold_first_answer(n: int) -> None:
        if n == 1:
            first_answering.set()
            second_done.wait(timeout=120)

    out = tmp_path / "out"
    with CompletionsServer(tiny_world.model_dir, FaultPlan(), on_answer=hold_first_answer) as srv:
        # the held answer must not time out (and be sent again) while the second run starts
        model_args = local_completions_args(
            srv.base_url, tiny_world.model_dir, timeout=300, journal=out / "j"
        )
        first = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.support.eval_child"),
                *("--model", "local-completions", "--model_args", model_args),
                *("--tasks", ",".join(SAMPLE_TASKS), "--include_path", str(tasks_dir / "sample")),
                *("--out", str(out), "--batch_size", "1"),
            ],
            cwd=REPO_ROOT,
            env={**os.environ, **OFFLINE_ENV},
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert first_answering.wait(timeout=300), "the first run sent nothing"
            with pytest.raises(JournalLockedError, match=f"in use by pid {first.pid}"):
                evaluate_and_save(
                    model_args,
                    list(SAMPLE_TASKS),
                    tasks_dir / "sample",
                    tmp_path / "second",
                    model="local-completions",
                    batch_size=1,
                )
        finally:
            close_open_journals()
            second_done.set()
            _, stderr = first.communicate(timeout=600)
        assert first.returncode == 0, stderr[-3000:]
        _answered_exactly_once(srv.traffic)  # the server saw one run's traffic
        assert srv.traffic.received == N_REQUESTS
    assert not (tmp_path / "second").exists()
    _same_as_reference(out, api_reference)
