"""``local-completions`` through the journal against a real server on 127.0.0.1 (in-process).

The server (``tests/support/completions_server.py``) answers from the tiny model and injects
faults; it counts what it answered successfully, per prompt, so "nothing paid twice" is
checked from the provider's side. Every run is compared, field by field, results and samples,
with a fault-free run without the journal (``api_reference``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from lm_eval_ext.resume.offline.status import format_status
from lm_eval_ext.resume.storage.journal import close_open_journals, load_entries
from lm_eval_ext.resume.storage.outputs import model_args_dict
from tests.support.completions_server import (
    CompletionsServer,
    FaultPlan,
    Traffic,
    local_completions_args,
)
from tests.support.lm_eval_runs import SAMPLE_TASKS, evaluate_and_save, read_results
from tests.support.results_diff import output_differences

#: The sample tasks: 80 loglikelihood + 20 generate_until requests, all prompts distinct.
N_REQUESTS = 100
#: Model args that may differ from the reference run's: the journal's, the server's port, the
#: concurrency and the time limit.
RUN_ARGS = {"journal", "journal_chunk", "journal_retry_s", "base_url", "num_concurrent", "timeout"}
_REQUESTS_LINE = re.compile(r"requests: (\d+) done, (\d+) errored(?: \((.*)\))?, (\d+) remaining")


def _journaled_run(
    server: CompletionsServer, world, tasks_dir: Path, out: Path, journal: Path, **args
) -> dict:
    model_args = local_completions_args(
        server.base_url, world.model_dir, journal=journal, journal_chunk=64, **args
    )
    try:
        return evaluate_and_save(
            model_args,
            list(SAMPLE_TASKS),
            tasks_dir / "sample",
            out,
            model="local-completions",
            batch_size=1,
        )
    finally:
        close_open_journals()


#: Fields the ``lm_eval`` CLI records differently from an in-process ``simple_evaluate`` of the
#: same run: ``--batch_size`` as text, its default ``--device`` and ``--gen_kwargs``,
#: ``--fewshot_as_multiturn`` unset, and the git hash of its working directory.
CLI_LAUNCH_FIELDS = {
    "/config/batch_size",
    "/config/device",
    "/config/gen_kwargs",
    "/fewshot_as_multiturn",
    "/git_hash",
}


def _same_as_reference(out: Path, reference: Path, launch_fields: set[str] = frozenset()) -> None:
    """Results and samples equal the reference's but for the run's own args (recorded in the
    results' ``model_args`` and in each task's metadata), the journal's ``lm_eval_ext`` and
    ``launch_fields``."""
    args, ref = (model_args_dict(read_results(path)) for path in (out, reference))
    changed = {k for k in args.keys() | ref.keys() if args.get(k) != ref.get(k)}
    assert changed <= RUN_ARGS, changed
    expected = {"/config/lm_eval_ext", "/config/model_args"} | {
        f"/configs/{task}/metadata/{arg}" for task in SAMPLE_TASKS for arg in changed
    }
    assert output_differences(out, reference) == expected | launch_fields


def _answered_exactly_once(traffic: Traffic) -> None:
    assert len(traffic.answered) == N_REQUESTS, "some prompt was never answered"
    twice = {k: n for k, n in traffic.answered.items() if n > 1}
    assert not twice, f"{len(twice)} requests were answered (paid for) more than once"


def _requests_status(out: Path) -> tuple[int, int, str, int]:
    """(done, errored, error kinds, remaining) of ``lm-eval-ext status OUT``."""
    match = _REQUESTS_LINE.search(format_status(out))
    assert match, format_status(out)
    return int(match[1]), int(match[2]), match[3] or "", int(match[4])


def test_faults_are_retried_and_the_results_are_the_fault_free_ones(
    api_server, tiny_world, tasks_dir, tmp_path, api_reference
):
    api_server.reset(
        FaultPlan(
            rate_limit_every=35,  # with Retry-After: 1
            server_errors=frozenset({20, 21, 22}),  # a burst
            drop=frozenset({10}),
            hang=frozenset({50}),  # past the client's 3 s timeout
            slow=frozenset({5, 6}),
        )
    )
    out = tmp_path / "out"
    _journaled_run(api_server, tiny_world, tasks_dir, out, out / "journal", journal_retry_s=60)
    traffic = api_server.traffic
    assert traffic.faults == {"rate_limit": 3, "server_error": 3, "drop": 1, "hang": 1}
    _answered_exactly_once(traffic)
    _same_as_reference(out, api_reference)
    entries, _ = load_entries(out / "journal")
    assert len(entries) == N_REQUESTS and all(r.ok for r in entries.values())
    assert _requests_status(out) == (N_REQUESTS, 0, "", 0)


def test_an_outage_ends_in_journaled_errors_and_the_rerun_pays_only_for_those(
    api_server, tiny_world, tasks_dir, tmp_path, api_reference
):
    api_server.reset(FaultPlan(unavailable_after=50))
    journal = tmp_path / "journal"
    started = time.monotonic()
    first = _journaled_run(
        api_server, tiny_world, tasks_dir, tmp_path / "first", journal, journal_retry_s=1
    )
    assert time.monotonic() - started < 60  # bounded: retries stop 1 s after the last answer
    done, errored, kinds, remaining = _requests_status(tmp_path)
    assert 50 <= done <= 54 and done + errored == N_REQUESTS and remaining == 0
    assert kinds == f"server_error {errored}"
    assert sum(first["config"]["lm_eval_ext"]["errored_docs"].values()) > 0
    errors = [r for r in load_entries(journal)[0].values() if not r.ok]
    assert len(errors) == errored and {r.kind for r in errors} == {"server_error"}
    assert all(r.err.startswith("HTTP 503") for r in errors)

    api_server.reset(FaultPlan(), counts=False)  # the provider is back
    _journaled_run(api_server, tiny_world, tasks_dir, tmp_path / "rerun", journal)
    _answered_exactly_once(api_server.traffic)  # the rerun sent only the errored requests
    _same_as_reference(tmp_path / "rerun", api_reference)


def test_sequential_requests_are_retried_and_given_up_the_same_way(
    api_server, tiny_world, tasks_dir, tmp_path, api_reference
):
    """``num_concurrent=1``: lm-eval sends one request at a time (``model_call``)."""
    api_server.reset(
        FaultPlan(
            rate_limit_every=40,
            server_errors=frozenset({12, 13}),
            drop=frozenset({25}),
            unavailable_after=70,
        )
    )
    journal = tmp_path / "journal"
    _journaled_run(
        api_server,
        tiny_world,
        tasks_dir,
        tmp_path / "first",
        journal,
        num_concurrent=1,
        journal_retry_s=1,
    )
    assert set(api_server.traffic.faults) == {"rate_limit", "server_error", "drop", "unavailable"}
    assert _requests_status(tmp_path) == (70, 30, "server_error 30", 0)
    api_server.reset(FaultPlan(), counts=False)
    _journaled_run(api_server, tiny_world, tasks_dir, tmp_path / "rerun", journal, num_concurrent=1)
    _answered_exactly_once(api_server.traffic)
    assert _requests_status(tmp_path) == (N_REQUESTS, 0, "", 0)
    _same_as_reference(tmp_path / "rerun", api_reference)
