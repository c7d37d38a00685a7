"""``lm_eval --model mgm_lora`` on a tiny Qwen2-VL: an image MC task and TextVQA (generation)."""

from __future__ import annotations

import json
import shutil

import pytest

from lm_eval_ext.vqa import vqa_accuracy
from tests.support.lm_eval_runs import read_results, read_samples, run_lm_eval
from tests.support.tiny_vl_world import write_image_mc_task


@pytest.mark.e2e
def test_image_mc_and_textvqa_through_cli(vl_world, tasks_dir, tmp_path):
    task_dir = tmp_path / "tasks"
    (task_dir / "image_mc").mkdir(parents=True)
    write_image_mc_task(task_dir / "image_mc", vl_world.data_dir)
    shutil.copytree(tasks_dir / "textvqa", task_dir / "textvqa")
    out = tmp_path / "out"
    model_args = (
        f"pretrained={vl_world.model_dir},lora={vl_world.lora_dir},"
        "device=cpu,dtype=float32,batch_size=2"
    )
    run_lm_eval(
        [
            "--model",
            "mgm_lora",
            "--model_args",
            model_args,
            "--tasks",
            "tiny_image_mc,textvqa_ocr",
            "--include_path",
            str(task_dir),
            "--metadata",
            json.dumps({"textvqa_jsonl": str(vl_world.data_dir / "textvqa_val.jsonl")}),
            "--output_path",
            str(out),
            "--log_samples",
        ],
        cwd=tmp_path,
    )
    results = read_results(out)["results"]
    mc = read_samples(out, "tiny_image_mc")
    acc = [
        float(
            max(range(len(s["filtered_resps"])), key=lambda i: float(s["filtered_resps"][i][0]))
            == int(s["target"])
        )
        for s in mc
    ]
    assert results["tiny_image_mc"]["acc,none"] == pytest.approx(sum(acc) / len(acc))
    assert all(float(r[0]) < 0 for s in mc for r in s["filtered_resps"])
    vqa = read_samples(out, "textvqa_ocr")
    scores = [vqa_accuracy(s["filtered_resps"][0], s["doc"]["answers"]) for s in vqa]
    assert results["textvqa_ocr"]["vqa_acc,none"] == pytest.approx(sum(scores) / len(scores))
    assert "Reference OCR token: STOP" in vqa[0]["arguments"]["gen_args_0"]["arg_0"]
