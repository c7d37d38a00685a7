"""The real ``lm_eval`` CLI: model args reach our tasks as metadata (the tokenizer seam)."""

from __future__ import annotations

import pytest

from tests.scoring._fixture_tasks import ours_name, write_fixture_tasks
from tests.support.lm_eval_runs import read_results, read_samples, run_lm_eval


@pytest.mark.e2e
def test_cli_mgm_lora_reports_all_metrics_with_tokenizer_from_model_args(tmp_path, tiny_world):
    write_fixture_tasks(tmp_path / "tasks", tmp_path / "hf_cache")
    tasks = [ours_name("arc_easy"), ours_name("boolq")]
    out = tmp_path / "out"
    run_lm_eval(
        [
            "--model",
            "mgm_lora",
            "--model_args",
            f"pretrained={tiny_world.model_dir},dtype=float32",
            "--include_path",
            str(tmp_path / "tasks"),
            "--tasks",
            ",".join(tasks),
            "--device",
            "cpu",
            "--batch_size",
            "4",
            "--output_path",
            str(out),
            "--log_samples",
        ],
        cwd=tmp_path,
    )
    results = read_results(out)["results"]
    for task in tasks:
        for metric in ("acc", "acc_norm", "acc_norm_token", "acc_norm_byte", "acc_pmi"):
            assert 0.0 <= results[task][f"{metric},none"] <= 1.0
        samples = read_samples(out, task)
        assert samples and all("acc_norm_token" in s for s in samples)
        # on disk: {"gen_args_<i>": {"arg_0": context, "arg_1": continuation}}
        args = [
            a["arg_0"]
            for _, a in sorted(
                samples[0]["arguments"].items(), key=lambda kv: int(kv[0].rsplit("_", 1)[1])
            )
        ]
        assert args[len(args) // 2 :] == ["Answer:"] * (len(args) // 2)
