"""Our ``*_mcnorm`` tasks vs lm-eval's built-in tasks on the same local fixtures.

One in-process ``simple_evaluate`` runs both versions of every benchmark on the tiny
model (batch size 1, so every request's log-prob is computed alone and exactly
reproducible). Then, per benchmark: same prompts and targets, bit-identical
``acc``/``acc_norm`` per doc and in aggregate, and our metrics recomputed by hand from
the logged samples, counting tokens with lm-eval's own encoder (``HFLM._encode_pair``).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.scoring._fixture_tasks import BENCHMARKS, builtin_name, ours_name, write_fixture_tasks


@pytest.fixture(scope="module")
def hf_lm(tiny_world):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=str(tiny_world.model_dir), dtype="float32", device="cpu", batch_size=1)


@pytest.fixture(scope="module")
def parity_run(tmp_path_factory, tiny_world, hf_lm):
    import lm_eval
    from lm_eval.tasks import TaskManager

    root = tmp_path_factory.mktemp("mc_parity")
    names = write_fixture_tasks(root / "tasks", root / "hf_datasets_cache")
    manager = TaskManager(
        include_path=str(root / "tasks"),
        include_defaults=False,
        metadata={"pretrained": str(tiny_world.model_dir)},
    )
    out = lm_eval.simple_evaluate(
        model=hf_lm, tasks=names, task_manager=manager, log_samples=True, bootstrap_iters=0
    )
    return out


def _samples(run, task):
    return sorted(run["samples"][task], key=lambda s: s["doc_id"])


def _lls(sample):
    return [float(r[0][0]) for r in sample["resps"]]


@pytest.mark.parametrize("bench", list(BENCHMARKS))
def test_acc_and_acc_norm_equal_builtin(parity_run, bench):
    theirs, ours = _samples(parity_run, builtin_name(bench)), _samples(parity_run, ours_name(bench))
    assert len(theirs) == len(ours) > 0
    shared = [m for m in ("acc", "acc_norm") if m in theirs[0]]
    assert "acc" in shared
    for t, o in zip(theirs, ours, strict=True):
        n = len(t["arguments"])
        assert o["arguments"][:n] == t["arguments"]  # same prompts and continuations
        assert o["target"] == t["target"]
        assert _lls(o)[:n] == _lls(t)
        for metric in shared:
            assert o[metric] == t[metric]
    res_t = parity_run["results"][builtin_name(bench)]
    res_o = parity_run["results"][ours_name(bench)]
    for metric in shared:
        assert res_o[f"{metric},none"] == res_t[f"{metric},none"]


def _gold_indices(sample, bench):
    if bench == "winogrande":  # partial scoring: the gold index is the doc's option number
        return [{"1": 0, "2": 1}[sample["doc"]["answer"]]]
    target = sample["target"]
    return target if isinstance(target, list) else [int(target)]


@pytest.mark.parametrize("bench", list(BENCHMARKS))
def test_our_metrics_by_hand_from_logged_samples(parity_run, hf_lm, bench):
    samples = _samples(parity_run, ours_name(bench))
    winogrande = bench == "winogrande"
    for s in samples:
        args, lls_all = s["arguments"], _lls(s)
        n = len(args) // 2  # conditional requests, then one unconditional per choice
        cond, uncond = args[:n], args[n:]
        assert all(ctx == "Answer:" for ctx, _ in uncond)
        assert [c for _, c in uncond] == [c for _, c in cond]
        lls, lls_u = np.array(lls_all[:n]), np.array(lls_all[n:])
        tokens = np.array([len(hf_lm._encode_pair(ctx, cont)[1]) for ctx, cont in cond])
        # bytes of the choice text, delimiter excluded (lm-eval's acc_bytes divisor)
        texts = [cont[1:] if cont.startswith(" ") else cont for _, cont in cond]
        n_bytes = np.array([len(t.encode("utf-8")) for t in texts])
        golds = _gold_indices(s, bench)
        assert s["acc_norm_token"] == float(int(np.argmax(lls / tokens)) in golds)
        assert s["acc_norm_byte"] == float(int(np.argmax(lls / n_bytes)) in golds)
        assert s["acc_pmi"] == float(int(np.argmax(lls - lls_u)) in golds)
        if winogrande:  # the scored continuation is the same for both options
            assert s["acc_norm_byte"] == s["acc"] and s["acc_pmi"] == s["acc"]
    res = parity_run["results"][ours_name(bench)]
    for metric in ("acc_norm_token", "acc_norm_byte", "acc_pmi"):
        assert res[f"{metric},none"] == pytest.approx(np.mean([s[metric] for s in samples]))


def test_prompts_splits_targets_match_builtin_configs():
    """The YAML fields that define the question are those of lm-eval's task, key by key."""
    from pathlib import Path

    import lm_eval.tasks
    from lm_eval.tasks._yaml_loader import load_yaml

    from tests.scoring._fixture_tasks import OURS

    root = Path(lm_eval.tasks.__file__).parent
    keys = (
        "dataset_path",
        "dataset_name",
        "training_split",
        "validation_split",
        "test_split",
        "fewshot_split",
        "fewshot_config",
        "doc_to_text",
        "doc_to_target",
        "doc_to_choice",
        "target_delimiter",
        "fewshot_delimiter",
        "description",
        "process_docs",
        "output_type",
    )
    for bench, (builtin, ours, _) in BENCHMARKS.items():
        theirs = load_yaml(root / builtin, resolve_func=True)
        mine = load_yaml(OURS / ours, resolve_func=True)
        for key in keys:
            a, b = theirs.get(key), mine.get(key)
            if callable(a) or callable(b):
                assert (a.__module__, a.__name__) == (b.__module__, b.__name__), (bench, key)
            else:
                assert a == b, (bench, key)
