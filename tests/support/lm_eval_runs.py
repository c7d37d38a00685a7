"""Run the real ``lm_eval`` CLI in a subprocess and read back what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def lm_eval_executable() -> str:
    """The ``lm_eval`` console script of the running interpreter's environment."""
    return str(Path(sys.executable).with_name("lm_eval"))


def lm_eval_env() -> dict[str, str]:
    """The environment of an ``lm_eval`` subprocess: offline, finalising at exit as for users."""
    env = {**os.environ, **OFFLINE_ENV}
    env.pop("LM_EVAL_EXT_FINALIZE", None)  # the CLI finalises journaled runs at exit, as for users
    return env


def start_lm_eval(args: list[str], *, cwd: Path | None = None) -> subprocess.Popen:
    """Start ``lm_eval ARGS`` offline (output captured); the caller waits for it or kills it."""
    return subprocess.Popen(
        [lm_eval_executable(), *args],
        cwd=cwd,
        env=lm_eval_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_lm_eval(
    args: list[str],
    *,
    cwd: Path | None = None,
    timeout: float = 900,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``lm_eval ARGS`` offline (``env``: variables to add or override); raise with the tail
    of its output if it fails and ``check``."""
    proc = subprocess.run(
        [lm_eval_executable(), *args],
        cwd=cwd,
        env={**lm_eval_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"lm_eval {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
        )
    return proc


def _only(paths: list[Path], what: str, where: Path) -> Path:
    if len(paths) != 1:
        raise AssertionError(f"expected one {what} under {where}, found {paths}")
    return paths[0]


def read_results(output_path: Path) -> dict:
    """The single ``results_*.json`` lm-eval wrote under ``output_path``."""
    path = _only(sorted(Path(output_path).rglob("results_*.json")), "results file", output_path)
    return json.loads(path.read_text())


def read_samples(output_path: Path, task: str) -> list[dict]:
    """The records of ``samples_<task>_*.jsonl`` under ``output_path``, sorted by doc_id."""
    path = _only(
        sorted(Path(output_path).rglob(f"samples_{task}_[0-9]*.jsonl")),
        f"{task} samples",
        output_path,
    )
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda r: r["doc_id"])


def evaluate_and_save(
    model_args: dict | str,
    tasks: list[str],
    include_path: Path,
    out: Path,
    model: str = "mgm_lora",
    **kwargs,
) -> dict:
    """``simple_evaluate`` in-process, then save results + samples under ``out`` as the CLI does.

    ``model_args`` as a string takes the CLI's path (``create_from_arg_string``); a
    ``metadata`` kwarg reaches the tasks as ``--metadata`` does (with the model args).
    """
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager
    from lm_eval.utils import simple_parse_args_string

    metadata = simple_parse_args_string(model_args) if isinstance(model_args, str) else model_args
    manager = TaskManager(
        include_path=str(include_path),
        include_defaults=False,
        metadata={**metadata, **(kwargs.get("metadata") or {})},
    )
    options = {"batch_size": 4, "device": "cpu", **kwargs}
    tracker = EvaluationTracker(output_path=str(out))
    results = lm_eval.simple_evaluate(
        model=model,
        model_args=model_args,
        tasks=tasks,
        task_manager=manager,
        log_samples=True,
        evaluation_tracker=tracker,
        **options,
    )
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return results


#: The bundled sample tasks: 80 loglikelihood + 20 generate_until requests.
SAMPLE_TASKS = ("ext_sample_mc", "ext_sample_gen")


def journaled_cli_args(world, tasks_dir: Path, out: Path, extra: str = "") -> list[str]:
    """``lm_eval`` arguments of a journaled run (chunks of 8) of the tiny world on the samples."""
    model_args = (
        f"pretrained={world.model_dir},lora={world.lora_dir},"
        f"journal={out / 'journal'},journal_chunk=8{extra}"
    )
    return [
        "--include_path",
        str(tasks_dir / "sample"),
        "--tasks",
        ",".join(SAMPLE_TASKS),
        "--model",
        "mgm_lora",
        "--model_args",
        model_args,
        "--device",
        "cpu",
        "--batch_size",
        "4",
        "--log_samples",
        "--output_path",
        str(out),
    ]
