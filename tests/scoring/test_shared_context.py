"""Context-once scorer == HFLM's own ``_loglikelihood_tokens`` on the tiny model."""

from __future__ import annotations

import random

import pytest

from lm_eval_ext.models._context_plan import chunk_groups, group_requests, split_window

pytest.importorskip("lm_eval")


@pytest.fixture(scope="module")
def lms(tiny_world):
    """HFLM and the same HFLM with the mixin, sharing one model (float32, CPU)."""
    from lm_eval.models.huggingface import HFLM

    from lm_eval_ext.models.context_once import SharedContextScoringMixin

    class SharedLM(SharedContextScoringMixin, HFLM):
        pass

    base = HFLM(
        pretrained=str(tiny_world.model_dir),
        dtype="float32",
        batch_size=4,
        device="cpu",
        max_length=64,
    )
    shared = SharedLM(
        pretrained=base.model, tokenizer=base.tokenizer, batch_size=4, device="cpu", max_length=64
    )
    return base, shared


def _requests(lm, pairs):
    return [((c, k), *lm._encode_pair(c, k)) for c, k in pairs]


def _assert_same(base, shared, reqs, batch_size=4):
    expected = base._loglikelihood_tokens(reqs, disable_tqdm=True)
    old, shared.batch_size_per_gpu = shared.batch_size_per_gpu, batch_size
    try:
        got = shared._loglikelihood_tokens(reqs, disable_tqdm=True)
    finally:
        shared.batch_size_per_gpu = old
    assert len(got) == len(expected)
    for (lp_e, greedy_e), (lp_g, greedy_g) in zip(expected, got, strict=True):
        assert abs(lp_e - lp_g) < 1e-4
        assert greedy_e == greedy_g


def _words(rng, n):
    vocab = "the red cat dog sun moon river table answer question one two three".split()
    return " ".join(rng.choice(vocab) for _ in range(n))


@pytest.mark.parametrize("logits_to_keep", [True, False])
def test_shared_and_different_contexts_in_one_batch(lms, monkeypatch, logits_to_keep):
    from lm_eval_ext.models import context_once

    base, shared = lms
    assert context_once._accepts_logits_to_keep(shared.model)
    # False: the path for models whose forward has no ``logits_to_keep``
    monkeypatch.setattr(context_once, "_accepts_logits_to_keep", lambda m: logits_to_keep)
    rng = random.Random(0)
    pairs = []
    for _ in range(5):
        ctx = "Question: " + _words(rng, rng.randint(3, 12)) + "\nAnswer:"
        pairs += [(ctx, " " + _words(rng, rng.randint(1, 6))) for _ in range(4)]
    rng.shuffle(pairs)
    _assert_same(base, shared, _requests(base, pairs))


def test_one_token_continuations_and_duplicates(lms):
    base, shared = lms
    ctx = "Question: the cat\nAnswer:"
    pairs = [(ctx, " A"), (ctx, " B"), (ctx, " the"), (ctx, " A"), (ctx, " red cat")]
    reqs = _requests(base, pairs)
    assert [len(r[2]) for r in reqs[:2]] == [1, 1]
    _assert_same(base, shared, reqs)


def test_left_truncation_of_over_long_inputs(lms):
    base, shared = lms
    rng = random.Random(1)
    long_ctx = _words(rng, 120)  # far over max_length=64 tokens
    pairs = [(long_ctx, " " + _words(rng, n)) for n in (1, 3, 7)] + [("short one", " two")]
    reqs = _requests(base, pairs)
    assert len(reqs[0][1]) + len(reqs[0][2]) > base.max_length + 1
    _assert_same(base, shared, reqs)


def test_empty_context_uses_prefix_token(lms):
    from lm_eval.api.instance import Instance

    base, shared = lms
    insts = [
        Instance("loglikelihood", {}, ("", cont), i)
        for i, cont in enumerate([" red cat", " the", " one two three", " moon"])
    ]
    expected = base.loglikelihood(insts, disable_tqdm=True)
    got = shared.loglikelihood(insts, disable_tqdm=True)
    for (a, ga), (b, gb) in zip(expected, got, strict=True):
        assert abs(a - b) < 1e-4 and ga == gb


@pytest.mark.parametrize("batch_size", [1, 2, 3, 64])
def test_batch_sizes_do_not_change_scores(lms, batch_size):
    base, shared = lms
    rng = random.Random(2)
    pairs = []
    for _ in range(3):
        ctx = _words(rng, rng.randint(2, 20))
        pairs += [(ctx, " " + _words(rng, rng.randint(1, 5))) for _ in range(5)]
    _assert_same(base, shared, _requests(base, pairs), batch_size=batch_size)


def test_cache_hook_receives_every_request(lms):
    base, shared = lms
    seen = []

    class Hook:
        def add_partial(self, kind, key, value):
            seen.append((kind, key, value))

    shared.cache_hook, old = Hook(), shared.cache_hook
    try:
        reqs = _requests(base, [("a b", " c"), ("a b", " d e")])
        got = shared._loglikelihood_tokens(reqs, disable_tqdm=True)
    finally:
        shared.cache_hook = old
    assert sorted(key for _, key, _ in seen) == [("a b", " c"), ("a b", " d e")]
    assert {key: v for _, key, v in seen}[("a b", " d e")] == got[1]


def test_plan_groups_by_truncated_prefix():
    # window = (ctx + cont)[-(L + 1):]; prefix = window minus the continuation
    assert split_window([1, 2, 3], [4, 5], max_length=10) == ((1, 2, 3), [4, 5])
    assert split_window([1, 2, 3, 4, 5], [6, 7], max_length=4) == ((3, 4, 5), [6, 7])
    groups = group_requests([([1, 2], [3]), ([1, 2], [4, 5]), ([1, 2], [4, 6]), ([9], [3])], 10)
    assert [g.prefix for g in groups] == [(1, 2), (9,)]
    first = groups[0]
    assert sorted(first.branches) == [(), (4,)]
    assert [i for i, _ in first.branches[(4,)].members] == [1, 2]
    assert first.n_branch_passes == 1
    assert [len(c) for c in chunk_groups(groups, 1)] == [1, 1]


def test_mgm_lora_uses_the_mixin_and_matches_hf_on_real_task_configs(tmp_path, tiny_world):
    """hellaswag (long endings), mmlu (one-token letters), winogrande (a context per
    choice) and the PMI requests sharing the "Answer:" prompt, end to end."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from lm_eval_ext.models.context_once import SharedContextScoringMixin
    from lm_eval_ext.models.mgm_lora import MGMLoRALM
    from tests.scoring._fixture_tasks import ours_name, write_fixture_tasks

    # LoRAMergeMixin comes first; the scoring mixin still overrides HFLM's scoring
    assert MGMLoRALM.__mro__.index(SharedContextScoringMixin) < MGMLoRALM.__mro__.index(HFLM)
    assert MGMLoRALM._loglikelihood_tokens is SharedContextScoringMixin._loglikelihood_tokens
    write_fixture_tasks(tmp_path / "tasks", tmp_path / "hf_cache")
    tasks = [ours_name(b) for b in ("hellaswag", "mmlu_anatomy", "winogrande", "boolq")]
    runs = {}
    for name, cls in (("hf", HFLM), ("mgm_lora", MGMLoRALM)):
        lm = cls(pretrained=str(tiny_world.model_dir), dtype="float32", device="cpu", batch_size=3)
        manager = TaskManager(
            include_path=str(tmp_path / "tasks"),
            include_defaults=False,
            metadata={"pretrained": str(tiny_world.model_dir)},
        )
        runs[name] = lm_eval.simple_evaluate(
            model=lm, tasks=tasks, task_manager=manager, log_samples=True, bootstrap_iters=0
        )
    for task in tasks:
        hf = sorted(runs["hf"]["samples"][task], key=lambda s: s["doc_id"])
        ours = sorted(runs["mgm_lora"]["samples"][task], key=lambda s: s["doc_id"])
        for a, b in zip(hf, ours, strict=True):
            for ra, rb in zip(a["resps"], b["resps"], strict=True):
                assert abs(ra[0][0] - rb[0][0]) < 1e-4 and ra[0][1] == rb[0][1]
            for metric in ("acc", "acc_norm", "acc_norm_token", "acc_norm_byte", "acc_pmi"):
                assert a.get(metric) == b.get(metric)
