"""``hf-multimodal`` (tiny Qwen2-VL, TextVQA generation with images) through the journal:
SIGKILLed part-way and rerun, the outputs equal a clean journaled run's.

``hf-multimodal`` cannot load a Qwen2-VL processor without torchvision (missing on this CPU test
machine: the video processor needs it), so the runs replace ``AutoProcessor.from_pretrained``
with our image-only loader (``eval_child --image_only_processor`` for the killed child, a
monkeypatch for the clean run and the rerun here: the technique of
``test_merged_cache_processor.py``). Upstream ``hf-multimodal`` has no loglikelihood with images
(it raises NotImplementedError), so generation is what it journals. Its reports name a request
by its text only: ``textvqa_ocr``'s prompts differ (OCR tokens), so each answer is journaled as
reported; ``textvqa``'s are one question over six images, which reports cannot tell apart, so
those come from the call's return value.
"""

from __future__ import annotations

import json
import shutil

import pytest
import transformers

from lm_eval_ext.models.qwen_vl import QWEN_IMAGE_STRING
from lm_eval_ext.resume.storage.journal import load_entries
from tests.resume.test_backends_kill_e2e import journal_differences
from tests.support.child_runs import child_command, run_child, run_in_process
from tests.support.eval_child import image_only_from_pretrained
from tests.support.lm_eval_runs import read_results
from tests.support.results_diff import output_differences

pytestmark = pytest.mark.e2e

TASKS = ["textvqa", "textvqa_ocr"]  # 6 docs each


def test_hf_multimodal_killed_and_rerun_equals_a_clean_run(
    vl_world, tasks_dir, tmp_path, monkeypatch
):
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", image_only_from_pretrained)
    include = tmp_path / "tasks"
    shutil.copytree(tasks_dir / "textvqa", include / "textvqa")
    metadata = {"textvqa_jsonl": str(vl_world.data_dir / "textvqa_val.jsonl")}
    outs = {}
    for name in ("clean", "resumed"):
        out = outs[name] = tmp_path / name
        args = (
            f"pretrained={vl_world.model_dir},image_string={QWEN_IMAGE_STRING},dtype=float32,"
            f"journal={out / 'journal'},journal_chunk=2"
        )
        command = child_command(
            "hf-multimodal",
            args,
            TASKS,
            include,
            out,
            *("--metadata", json.dumps(metadata), "--batch_size", "2"),
            "--image_only_processor",
        )
        if name == "resumed":
            run_child(command, kill="record:4")  # the plan line + 3 of the 12 answers
            assert len(load_entries(out / "journal")[0]) == 3
        run_in_process("hf-multimodal", args, TASKS, include, out, metadata, 2)
    assert output_differences(outs["resumed"], outs["clean"]) == journal_differences(TASKS)
    assert read_results(outs["resumed"])["config"]["model"] == "hf-multimodal"
    assert len(load_entries(outs["resumed"] / "journal")[0]) == 12
