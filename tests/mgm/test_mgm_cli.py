"""``lm_eval --model mgm_lora`` on the tiny MGM + LoRA output: image MC, MMBench (both
scorings, circular) and TextVQA in one run; loglikelihoods equal the unmerged PEFT model's."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import pytest
from lm_eval.api.instance import Instance

from lm_eval_ext.mmbench.data import load_mmbench
from lm_eval_ext.mmbench.task import doc_to_choice, doc_to_image, doc_to_text
from lm_eval_ext.vqa import vqa_accuracy
from tests.mgm.test_mgm_lm import unmerged_reference
from tests.support.lm_eval_runs import read_results, read_samples, run_lm_eval
from tests.support.tiny_vl_world import write_image_mc_task

TASKS = "tiny_image_mc,mmbench_en_dev,mmbench_en_dev_ll,textvqa_ocr"


def _circular_from_samples(samples: list[dict]) -> float:
    """MMBench's rule recomputed from the logged per-rotation correctness."""
    by_question = defaultdict(list)
    for s in samples:
        by_question[s["doc"]["question_id"]].append(s["acc"] == 1.0)
    return sum(all(v) for v in by_question.values()) / len(by_question)


@pytest.mark.e2e
def test_mgm_lora_cli_mmbench_textvqa_image_mc(mgm_world, tasks_dir, tmp_path):
    task_dir = tmp_path / "tasks"
    (task_dir / "image_mc").mkdir(parents=True)
    write_image_mc_task(task_dir / "image_mc", mgm_world.data_dir)
    for name in ("textvqa", "mmbench"):
        shutil.copytree(tasks_dir / name, task_dir / name)
    out = tmp_path / "out"
    metadata = {
        "textvqa_jsonl": str(mgm_world.data_dir / "textvqa_val.jsonl"),
        "mmbench_file": str(mgm_world.mmbench_tsv),
    }
    model_args = (
        f"pretrained={mgm_world.gemma_dir},lora={mgm_world.lora_dir},"
        "device=cpu,dtype=float32,batch_size=4"
    )
    run_lm_eval(
        [
            "--model",
            "mgm_lora",
            "--model_args",
            model_args,
            "--tasks",
            TASKS,
            "--include_path",
            str(task_dir),
            "--metadata",
            json.dumps(metadata),
            "--output_path",
            str(out),
            "--log_samples",
        ],
        cwd=tmp_path,
    )
    results = read_results(out)["results"]

    for task in ("mmbench_en_dev", "mmbench_en_dev_ll"):
        samples = read_samples(out, task)
        assert len(samples) == 9  # 4 + 2 + 3 rotations
        assert results[task]["circular_acc,none"] == pytest.approx(_circular_from_samples(samples))
        assert "circular_acc_l2_coarse_perception,none" in results[task]
        assert "circular_acc_cat_object_localization,none" in results[task]

    # the CLI's MMBench letter loglikelihoods are the unmerged PEFT model's
    docs = list(load_mmbench(mmbench_file=str(mgm_world.mmbench_tsv))["dev"])
    requests = [
        Instance("loglikelihood", d, (doc_to_text(d), "\n" + c, {"visual": doc_to_image(d)}), i)
        for d in docs
        for i, c in enumerate(doc_to_choice(d))
    ]
    ref = unmerged_reference(mgm_world).loglikelihood(requests, disable_tqdm=True)
    logged = [
        float(r[0]) for s in read_samples(out, "mmbench_en_dev_ll") for r in s["filtered_resps"]
    ]
    assert logged == pytest.approx([ll for ll, _ in ref], abs=1e-4)

    mc = read_samples(out, "tiny_image_mc")
    acc = [
        float(max(range(4), key=lambda i: float(s["filtered_resps"][i][0])) == int(s["target"]))
        for s in mc
    ]
    assert results["tiny_image_mc"]["acc,none"] == pytest.approx(sum(acc) / len(acc))
    vqa = read_samples(out, "textvqa_ocr")
    scores = [vqa_accuracy(s["filtered_resps"][0], s["doc"]["answers"]) for s in vqa]
    assert results["textvqa_ocr"]["vqa_acc,none"] == pytest.approx(sum(scores) / len(scores))
    model_info = read_results(out)
    assert model_info["config"]["model"] == "mgm_lora"
