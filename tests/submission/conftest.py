"""Runs of the tiny world as a hub model (``org/tiny-llama@step-N`` in an offline hub cache)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lm_eval_ext.resume.online.options import FAIL_ENV
from tests.support.hub_cache import use_hub_cache, write_hub_repo
from tests.support.lm_eval_runs import evaluate_and_save

REPO = "org/tiny-llama"
TASKS = ["ext_sample_mc", "ext_sample_gen"]
SUITE_YAML = """
name: tiny_suite
description: the bundled sample tasks, scored like a leaderboard
source: tests
hub_model: true
checkpoints: {checkpoints}
normalization: random_baseline
benchmarks:
  - name: MC
    n_shot: {n_shot}
    metric: acc
    tasks:
      ext_sample_mc: {{choices: 4, docs: 20}}
  - name: GEN
    n_shot: 0
    metric: exact_match
    filter: clean
    tasks:
      ext_sample_gen: {{choices: 0}}
{extra}"""


def write_suite(path: Path, checkpoints=("step-1",), n_shot=0, extra="") -> Path:
    """A suite over the sample tasks (``extra`` adds benchmarks)."""
    path.write_text(SUITE_YAML.format(checkpoints=list(checkpoints), n_shot=n_shot, extra=extra))
    return path


@pytest.fixture(scope="session")
def tiny_hub(tiny_world, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(hub cache root, ref -> commit) holding the tiny world's model at step-1 and step-2."""
    root = tmp_path_factory.mktemp("tiny_hub")
    commits = write_hub_repo(
        root, REPO, {"step-1": tiny_world.model_dir, "step-2": tiny_world.model_dir}
    )
    return root, commits


@pytest.fixture()
def hub(tiny_hub, monkeypatch) -> dict[str, str]:
    """The tiny hub cache, active for one test; returns ref -> commit."""
    use_hub_cache(monkeypatch, tiny_hub[0])
    return tiny_hub[1]


def evaluate(out: Path, tasks_dir: Path, revision: str = "step-1", **kwargs) -> Path:
    """An in-process run of ``REPO@revision`` on the sample tasks, saved under ``out``."""
    args = {"pretrained": REPO, "revision": revision, "dtype": "float32"}
    args.update(kwargs.pop("model_args", {}))
    evaluate_and_save(args, kwargs.pop("tasks", TASKS), tasks_dir / "sample", out, **kwargs)
    return out


@pytest.fixture(scope="module")
def sweep_out(tiny_hub, tasks_dir, tmp_path_factory) -> Path:
    """A sweep-like OUT: complete runs of step-1 and step-2, one folder per checkpoint."""
    out = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as mp:
        use_hub_cache(mp, tiny_hub[0])
        for ref in ("step-1", "step-2"):
            evaluate(out / ref, tasks_dir, ref)
    return out


@pytest.fixture(scope="module")
def errored_out(tiny_hub, tasks_dir, tmp_path_factory) -> Path:
    """A finalised journaled run whose docs 3 and 5 of ext_sample_mc errored."""
    from lm_eval_ext.resume import finalize_run, latest_results_file, write_finalized

    out = tmp_path_factory.mktemp("errored")
    with pytest.MonkeyPatch.context() as mp:
        use_hub_cache(mp, tiny_hub[0])
        mp.setenv(FAIL_ENV, "ext_sample_mc:3,5")
        evaluate(out, tasks_dir, model_args={"journal": str(out / "journal")})
        mp.delenv(FAIL_ENV)
        write_finalized(*finalize_run(latest_results_file(out)))
    return out
