"""``hf`` and ``vllm`` through the journal (``journal=`` in their model args): SIGKILLed part-way
and rerun, the outputs equal a clean journaled run's, and name the real backend and model.

The killed run is a child interpreter (``tests.support.eval_child``: ``simple_evaluate`` with
the model args as a string, the CLI's ``create_from_arg_string`` path); the clean run and the
rerun are the same evaluation in-process (for ``vllm``, children too). The plain ``lm_eval``
CLI is exercised by the ``local-completions`` kill test.
``hf-multimodal``: ``tests/vlm/test_journal_e2e.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lm_eval_ext.demo.tiny_world import build_tiny_causal_lm
from lm_eval_ext.resume.storage.journal import load_entries
from tests.support.child_runs import child_command, run_child, run_in_process
from tests.support.lm_eval_runs import SAMPLE_TASKS, read_results
from tests.support.results_diff import output_differences

pytestmark = pytest.mark.e2e


def journal_differences(tasks: list[str]) -> set[str]:
    """What two journaled runs that differ only in their journal's path differ in."""
    return {"/config/model_args", "/config/lm_eval_ext/journal"} | {
        f"/configs/{task}/metadata/journal" for task in tasks
    }


def _kill_and_resume(
    model: str, base_args: str, tasks_dir: Path, tmp_path: Path, in_process: bool = True
) -> tuple[Path, Path]:
    """A clean journaled run, and a run killed after record 30 (the plan line + 29 responses,
    mid-loglikelihood) then rerun; returns the two output folders."""
    include = tasks_dir / "sample"
    outs = {}
    for name in ("clean", "resumed"):
        out = outs[name] = tmp_path / name
        args = f"{base_args},journal={out / 'journal'},journal_chunk=8"
        command = child_command(model, args, list(SAMPLE_TASKS), include, out)
        if name == "resumed":
            run_child(command, kill="record:30")
            assert len(load_entries(out / "journal")[0]) == 29
            assert not list(out.rglob("results_*.json"))
        if in_process:
            run_in_process(model, args, list(SAMPLE_TASKS), include, out)
        else:
            run_child(command)
    return outs["clean"], outs["resumed"]


def test_hf_killed_and_rerun_equals_a_clean_run(tiny_world, tasks_dir, tmp_path):
    clean, resumed = _kill_and_resume(
        "hf", f"pretrained={tiny_world.model_dir},dtype=float32", tasks_dir, tmp_path
    )
    assert output_differences(resumed, clean) == journal_differences(list(SAMPLE_TASKS))
    results = read_results(resumed)
    assert results["config"]["model"] == "hf"  # the backend, not a wrapper
    assert results["model_name"] == str(tiny_world.model_dir)
    [folder] = [p.parent for p in resumed.rglob("results_*.json")]
    assert folder.name == results["model_name_sanitized"] != "journal"
    assert len(load_entries(resumed / "journal")[0]) == 100


def _vllm_missing() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (it needs a CUDA GPU): run on a GPU machine with vllm"
    import torch

    return None if torch.cuda.is_available() else "vLLM needs a CUDA GPU; none here"


@pytest.mark.skipif(_vllm_missing() is not None, reason=str(_vllm_missing()))
def test_vllm_killed_and_rerun_equals_a_clean_run(tiny_world, tasks_dir, tmp_path):
    """vLLM reports each chunk's responses when the chunk is done; the journal takes them there.

    The tiny model here has 64-wide attention heads (vLLM's kernels refuse the 16-wide ones of
    the shared tiny world).
    """
    model = build_tiny_causal_lm(
        tmp_path / "tiny-vllm", tiny_world.tokenizer_dir, hidden_size=128, num_heads=2
    )
    base = (
        f"pretrained={model},dtype=float32,seed=1234,gpu_memory_utilization=0.2,"
        "enforce_eager=True,max_model_len=512"
    )
    clean, resumed = _kill_and_resume("vllm", base, tasks_dir, tmp_path, in_process=False)
    assert output_differences(resumed, clean) == journal_differences(list(SAMPLE_TASKS))
    assert read_results(resumed)["config"]["model"] == "vllm"
