"""MMBench (both scorings, circular) runs on Qwen-VL through ``mgm_lora`` as on MGM."""

from __future__ import annotations

from collections import defaultdict

import lm_eval
import pytest
from lm_eval.tasks import TaskManager

from tests.support.mgm_world import build_mmbench_tsv


def test_mmbench_on_qwen_vl(vl_world, tasks_dir, tmp_path):
    tsv = build_mmbench_tsv(vl_world.data_dir, tmp_path / "mmbench.tsv")
    manager = TaskManager(
        include_path=str(tasks_dir / "mmbench"),
        include_defaults=False,
        metadata={"mmbench_file": str(tsv)},
    )
    out = lm_eval.simple_evaluate(
        model="mgm_lora",
        model_args={
            "pretrained": str(vl_world.model_dir),
            "lora": str(vl_world.lora_dir),
            "dtype": "float32",
        },
        tasks=["mmbench_en_dev", "mmbench_en_dev_ll"],
        task_manager=manager,
        batch_size=2,
        device="cpu",
        log_samples=True,
    )
    for task in ("mmbench_en_dev", "mmbench_en_dev_ll"):
        samples = out["samples"][task]
        assert len(samples) == 9
        by_question = defaultdict(list)
        for s in samples:
            by_question[s["doc"]["question_id"]].append(s["acc"] == 1.0)
        expected = sum(all(v) for v in by_question.values()) / len(by_question)
        assert out["results"][task]["circular_acc,none"] == pytest.approx(expected)
    lls = [float(r[0][0]) for s in out["samples"]["mmbench_en_dev_ll"] for r in s["resps"]]
    assert len(lls) == 4 * 4 + 2 * 2 + 3 * 3 and all(ll < 0 for ll in lls)
