"""Where a sweep's checkpoints come from: hub revisions and patterns, globs, adapters, files."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
from huggingface_hub.errors import HfHubHTTPError

from lm_eval_ext.errors import SweepError
from lm_eval_ext.sweep import (
    adapter_checkpoints,
    base_checkpoint,
    checkpoints_from_file,
    hub_revision_pattern,
    hub_revisions,
    local_checkpoints,
    order_checkpoints,
)
from tests.support.hub_cache import use_hub_cache, write_hub_repo


def _model_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


def _adapter_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"r": 4}))
    return path


def test_hub_revisions_become_their_own_checkpoints():
    specs = hub_revisions("org/name", ["step-1000", "stage1-step20000-tokens84B"])
    assert [(s.run, s.label, s.revision, s.step, s.tokens) for s in specs] == [
        ("org__name", "step-1000", "step-1000", 1000, None),
        ("org__name", "stage1-step20000-tokens84B", "stage1-step20000-tokens84B", 20000, 84e9),
    ]


def test_revision_pattern_offline_reads_the_refs_in_the_hub_cache(tmp_path, monkeypatch):
    sources = {ref: _model_dir(tmp_path / "src" / ref) for ref in ("main", "step-10", "step-2")}
    write_hub_repo(tmp_path / "cache", "org/run", sources)
    use_hub_cache(monkeypatch, tmp_path / "cache")
    specs = order_checkpoints(hub_revision_pattern("org/run", "step-*"))
    assert [s.label for s in specs] == ["step-2", "step-10"]  # by step, not by name
    with pytest.raises(SweepError, match=r"no ref of org/run matches \(main, step-10, step-2\)"):
        hub_revision_pattern("org/run", "stage*")
    with pytest.raises(SweepError, match="org/absent: not in the hub cache"):
        hub_revision_pattern("org/absent", "step-*")


def test_revision_pattern_online_lists_branches_and_tags(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    refs = SimpleNamespace(
        branches=[SimpleNamespace(name=n) for n in ("main", "step143000", "step1000")],
        tags=[SimpleNamespace(name="step512")],
    )
    asked = []
    monkeypatch.setattr(huggingface_hub, "list_repo_refs", lambda repo: asked.append(repo) or refs)
    specs = order_checkpoints(hub_revision_pattern("EleutherAI/pythia-70m", "step*"))
    assert asked == ["EleutherAI/pythia-70m"]
    assert [s.step for s in specs] == [512, 1000, 143000]

    def missing(repo):
        response = SimpleNamespace(headers={}, request=None)  # what the error reads of it
        raise HfHubHTTPError("404 Client Error: Repository Not Found", response=response)

    monkeypatch.setattr(huggingface_hub, "list_repo_refs", missing)
    with pytest.raises(SweepError, match="org/typo: cannot list its branches .*Not Found"):
        hub_revision_pattern("org/typo", "step*")


def test_local_globs_adapters_and_runs(tmp_path):
    for run in ("a", "b"):
        for step in (5, 50):
            _model_dir(tmp_path / run / f"checkpoint-{step}")
    specs = order_checkpoints(local_checkpoints(str(tmp_path / "*" / "checkpoint-*")))
    assert [(s.run, s.label, s.step, s.kind) for s in specs] == [
        ("a", "checkpoint-5", 5, "local"),
        ("a", "checkpoint-50", 50, "local"),
        ("b", "checkpoint-5", 5, "local"),
        ("b", "checkpoint-50", 50, "local"),
    ]
    assert specs[0].pretrained == str((tmp_path / "a" / "checkpoint-5").resolve())
    _adapter_dir(tmp_path / "lora" / "checkpoint-7")
    adapters = adapter_checkpoints(str(tmp_path / "lora" / "checkpoint-*"), "org/base")
    assert [(s.run, s.label, s.adapter, s.step) for s in adapters] == [
        ("org__base+lora", "checkpoint-7", str((tmp_path / "lora/checkpoint-7").resolve()), 7)
    ]
    with pytest.raises(SweepError, match="not adapter dirs"):
        adapter_checkpoints(str(tmp_path / "a" / "checkpoint-*"), "org/base")
    (tmp_path / "a" / "checkpoint-9").mkdir()
    with pytest.raises(SweepError, match="checkpoint-9 has neither config.json"):
        local_checkpoints(str(tmp_path / "a" / "checkpoint-*"))
    with pytest.raises(SweepError, match="no directory matches"):
        local_checkpoints(str(tmp_path / "nothing-*"))
    with pytest.raises(SweepError, match="is a LoRA adapter; give its base"):
        local_checkpoints(str(tmp_path / "lora" / "checkpoint-*"))


def test_base_is_step_zero_of_each_adapter_run():
    specs = base_checkpoint("org/base", "v2", ["org__base+lora", "org__base+lora"])
    assert [(s.run, s.label, s.revision, s.step) for s in specs] == [
        ("org__base+lora", "base", "v2", 0)
    ]
    alone = base_checkpoint("org/base", None, [])
    assert [(s.run, s.label, s.step) for s in alone] == [("org__base", "base", None)]


def test_checkpoint_file_mixes_dirs_adapters_and_revisions(tmp_path):
    _model_dir(tmp_path / "runs" / "r" / "checkpoint-3")
    _adapter_dir(tmp_path / "runs" / "lora" / "checkpoint-4")
    listing = tmp_path / "list.txt"
    listing.write_text(
        "# checkpoints\nruns/r/checkpoint-3\nruns/lora/checkpoint-4  # adapter\n\nstep-100\n"
    )
    specs = checkpoints_from_file(listing, "org/base")
    assert [(s.kind, s.run, s.label) for s in specs] == [
        ("local", "r", "checkpoint-3"),
        ("adapter", "org__base+lora", "checkpoint-4"),
        ("revision", "org__base", "step-100"),
    ]
    listing.write_text("runs/r/missing-dir\n")
    with pytest.raises(SweepError, match=r"list.txt:1: runs/r/missing-dir: no such directory"):
        checkpoints_from_file(listing, "org/base")
    with pytest.raises(SweepError, match="absent.txt"):
        checkpoints_from_file(tmp_path / "absent.txt", "org/base")


def test_two_checkpoints_in_one_folder_are_refused(tmp_path):
    a = local_checkpoints(str(_model_dir(tmp_path / "x" / "run" / "checkpoint-1")))
    b = local_checkpoints(str(_model_dir(tmp_path / "y" / "run" / "checkpoint-1")))
    with pytest.raises(SweepError, match="two checkpoints map to run/checkpoint-1"):
        order_checkpoints(a + b)
    assert order_checkpoints(a + a) == a  # the same checkpoint twice is one
