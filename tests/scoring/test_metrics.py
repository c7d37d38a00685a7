"""Normalised MC metrics: hand-worked cases, token counts, and lm-eval's own equivalents."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from lm_eval_ext.scoring.metrics import is_correct, normalized_mc_metrics

# Hand-worked: lls = [-6, -8, -9]
#   per token, T = [3, 2, 3]:   [-2, -4, -3]      -> choice 0
#   per byte,  B = [2, 8, 12]:  [-3, -1, -0.75]   -> choice 2
#   PMI, uncond = [-1, -5, -3]: [-5, -3, -6]      -> choice 1
HAND_CASES = [
    (1, {"acc_norm_token": 0.0, "acc_norm_byte": 0.0, "acc_pmi": 1.0}),
    (2, {"acc_norm_token": 0.0, "acc_norm_byte": 1.0, "acc_pmi": 0.0}),
    ([0, 2], {"acc_norm_token": 1.0, "acc_norm_byte": 1.0, "acc_pmi": 0.0}),
]


@pytest.mark.parametrize(("gold", "expected"), HAND_CASES)
def test_hand_worked_example(gold, expected):
    got = normalized_mc_metrics(
        [-6.0, -8.0, -9.0],
        gold,
        n_tokens=[3, 2, 3],
        n_bytes=[2, 8, 12],
        lls_unconditional=[-1.0, -5.0, -3.0],
    )
    assert got == expected


def test_only_metrics_with_inputs_and_ties_and_bad_counts():
    assert normalized_mc_metrics([-1.0, -2.0], 0, n_bytes=[1, 1]) == {"acc_norm_byte": 1.0}
    assert is_correct([-1.0, -1.0], 0) == 1.0  # ties: lowest index, like numpy/lm-eval
    assert is_correct([-1.0, -1.0], -100) == 0.0  # lm-eval's "gold out of range"
    with pytest.raises(ValueError, match="n_tokens"):
        normalized_mc_metrics([-1.0], 0, n_tokens=[0])


@pytest.fixture(scope="module")
def hf_lm(tiny_world):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=str(tiny_world.model_dir), dtype="float32", device="cpu", batch_size=8)


def test_token_counts_equal_what_hflm_scores(hf_lm):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from lm_eval_ext.scoring.token_counts import continuation_token_counts

    class Capture(HFLM):
        """HFLM that records the token requests its ``loglikelihood`` builds."""

        def _loglikelihood_tokens(self, requests, disable_tqdm=False, override_bs=None):
            self.seen = list(requests)
            return [(0.0, False)] * len(requests)

    capture = Capture(pretrained=hf_lm.model, tokenizer=hf_lm.tokenizer, device="cpu")
    pairs = [
        ("Question: the cat\nAnswer:", " red cat"),
        ("Answer: ", "blue"),
        ("Answer:", " café déjà vu"),
        ("x", "  two  spaces"),
        ("Paris is", " london"),
        ("", " the moon"),
        ("", "<s> starts with the prefix token"),
    ]
    capture.loglikelihood(
        [Instance("loglikelihood", {}, p, i) for i, p in enumerate(pairs)], disable_tqdm=True
    )
    expected = [len(cont_enc) for _, _, cont_enc in capture.seen]
    got = continuation_token_counts(hf_lm.tokenizer, pairs, prefix_token_id=hf_lm.prefix_token_id)
    assert got == expected
    assert expected[-1] == len(hf_lm.tokenizer.encode(pairs[-1][1])) - 1  # prefix token dropped


def _write_task(tmp_path, mc_jsonl, extra_metrics, name="tiny_mc_norm"):
    import yaml

    cfg = {
        "task": name,
        "class": "!function lm_eval_ext.scoring.mc_task.NormalizedMCTask",
        "dataset_path": "json",
        "dataset_kwargs": {
            "data_files": {"test": str(mc_jsonl)},
            "cache_dir": str(tmp_path / "hf_cache"),
        },
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_target": "answer",
        "doc_to_choice": "choices",
        "metric_list": [{"metric": "acc"}, *extra_metrics],
    }
    text = yaml.safe_dump(cfg, sort_keys=False).replace(
        "'!function lm_eval_ext.scoring.mc_task.NormalizedMCTask'",
        "!function lm_eval_ext.scoring.mc_task.NormalizedMCTask",
    )
    (tmp_path / "tasks").mkdir(exist_ok=True)
    (tmp_path / "tasks" / f"{name}.yaml").write_text(text)
    return tmp_path / "tasks"


def _run(hf_lm, include, metadata, task="tiny_mc_norm"):
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(include), include_defaults=False, metadata=metadata)
    out = lm_eval.simple_evaluate(
        model=hf_lm, tasks=[task], task_manager=manager, log_samples=True, bootstrap_iters=0
    )
    return sorted(out["samples"][task], key=lambda s: s["doc_id"])


def test_byte_equals_acc_bytes_and_empty_prompt_pmi_equals_mutual_info(tmp_path, tiny_world, hf_lm):
    metrics = [{"metric": m} for m in ("acc_bytes", "acc_mutual_info", "acc_norm_byte")]
    metrics.append({"metric": "acc_pmi", "unconditional_prompt": ""})
    include = _write_task(tmp_path, tiny_world.mc_jsonl, metrics)
    samples = _run(hf_lm, include, {"pretrained": str(tiny_world.model_dir)})
    assert len(samples) == 24
    for s in samples:
        assert s["acc_norm_byte"] == s["acc_bytes"]
        assert s["acc_pmi"] == s["acc_mutual_info"]


def test_metadata_overrides_unconditional_prompt(tmp_path, tiny_world, hf_lm):
    include = _write_task(tmp_path, tiny_world.mc_jsonl, [{"metric": "acc_pmi"}])
    default = _run(hf_lm, include, {})
    assert {ctx for ctx, _ in default[0]["arguments"][4:]} == {"Answer:"}
    custom = _run(hf_lm, include, {"pmi_unconditional_prompt": "Q:"})
    assert {ctx for ctx, _ in custom[0]["arguments"][4:]} == {"Q:"}


def test_acc_norm_token_needs_a_tokenizer_in_metadata(tmp_path, tiny_world, hf_lm):
    include = _write_task(tmp_path, tiny_world.mc_jsonl, [{"metric": "acc_norm_token"}])
    with pytest.raises(ValueError, match="tokenizer"):
        _run(hf_lm, include, {})


def test_registering_our_metrics_keeps_lm_evals_own():
    code = textwrap.dedent("""
        from lm_eval_ext.scoring.metrics import register_normalized_metrics
        register_normalized_metrics()
        from lm_eval.api.registry import get_metric, get_metric_aggregation, is_higher_better
        import json
        names = ("acc", "acc_norm", "acc_bytes", "acc_norm_token", "acc_pmi")
        found = [get_metric(m) is not None for m in names]
        print(json.dumps(found + [is_higher_better("acc_pmi"),
                                  get_metric_aggregation("acc_pmi")([1, 0])]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True] * 6 + [0.5]
