"""One tokenizer/config loader, resolving model args as HFLM does, revision included (offline)."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from lm_eval_ext.checkpoints.tokenizer import load_model_config, load_tokenizer, tokenizer_source
from lm_eval_ext.errors import CheckpointError, ModelArgsError

SAMPLE = "The 2022 total of table row 17 was 1,234.5 [Final Answer]: Paris and Berlin"


def _ids(tokenizer) -> list[int]:
    return tokenizer(SAMPLE)["input_ids"]


@pytest.fixture()
def direct(hub_cache):
    """The tokenizers of each revision, loaded from the directories the cache was built from."""
    from transformers import AutoTokenizer

    return {ref: AutoTokenizer.from_pretrained(src) for ref, src in hub_cache.sources.items()}


def test_fixture_revisions_really_differ(direct):
    assert len(direct["main"]) != len(direct["step-1"])
    assert _ids(direct["main"]) != _ids(direct["step-1"])


@pytest.mark.parametrize(
    "revision,expected", [("step-1", "step-1"), ("main", "main"), (None, "main")]
)
def test_revision_selects_the_tokenizer(hub_cache, direct, revision, expected):
    args = {"pretrained": hub_cache.repo_id, "dtype": "float32"}
    if revision is not None:
        args["revision"] = revision
    tokenizer = load_tokenizer(args)
    assert len(tokenizer) == len(direct[expected])
    assert _ids(tokenizer) == _ids(direct[expected])


def test_matches_hflm_create_tokenizer(hub_cache, direct):
    """Same resolution as lm-eval's ``HFLM._create_tokenizer`` (revision on a named tokenizer)."""
    from lm_eval.models.huggingface import HFLM

    other = str(hub_cache.sources["main"])
    cases = [
        {"pretrained": hub_cache.repo_id, "revision": "step-1"},
        {"pretrained": other, "tokenizer": hub_cache.repo_id, "revision": "step-1"},
        {"pretrained": hub_cache.repo_id, "tokenizer": hub_cache.repo_id},
    ]
    for args in cases:
        lm = HFLM.__new__(HFLM)
        HFLM._create_tokenizer(
            lm, args["pretrained"], args.get("tokenizer"), revision=args.get("revision", "main")
        )
        assert _ids(load_tokenizer(args)) == _ids(lm.tokenizer), args


def test_tokenizer_source_reads_model_args():
    source = tokenizer_source(
        {
            "pretrained": "org/m",
            "revision": 125000,
            "trust_remote_code": "True",
            "use_fast_tokenizer": False,
            "subfolder": "sub",
        }
    )
    assert (
        source.name,
        source.revision,
        source.trust_remote_code,
        source.use_fast,
        source.subfolder,
    ) == ("org/m", "125000", True, False, "sub")
    assert tokenizer_source({"pretrained": "org/m", "tokenizer": "org/tok"}).name == "org/tok"
    assert tokenizer_source({"dtype": "float32"}) is None
    with pytest.raises(ModelArgsError, match="pretrained"):
        load_tokenizer({"dtype": "float32"})


def test_unknown_revision_is_named(hub_cache):
    with pytest.raises(CheckpointError, match="step-9"):
        load_tokenizer({"pretrained": hub_cache.repo_id, "revision": "step-9"})


def test_table_budget_uses_the_revisions_config(hub_cache):
    from lm_eval_ext.tables.tokens import resolve_budget

    for ref in ("main", "step-1"):
        meta = {"pretrained": hub_cache.repo_id, "revision": ref}
        assert load_model_config(meta).max_position_embeddings == hub_cache.max_positions(ref)
        assert resolve_budget(meta, load_tokenizer(meta), 24) == hub_cache.max_positions(ref) - 24


def test_token_count_metric_uses_the_revisions_tokenizer(hub_cache, direct):
    from lm_eval_ext.scoring.token_counts import continuation_token_counts, tokenizer_from_metadata

    pairs = [("Question: which city?", " Paris and Berlin 2022"), ("", "1,234.5 total")]
    tokenizer = tokenizer_from_metadata({"pretrained": hub_cache.repo_id, "revision": "step-1"})
    got = continuation_token_counts(tokenizer, pairs)
    assert got == continuation_token_counts(direct["step-1"], pairs)
    assert got != continuation_token_counts(direct["main"], pairs)


def test_table_task_budgets_prompts_with_the_revision(hub_cache, tmp_path):
    """``html_table_qa`` built with ``revision=step-1``: budget and counts from step-1."""
    from transformers import AutoTokenizer

    from lm_eval_ext.tables.data import TableQA
    from lm_eval_ext.tables.hooks import build_docs, doc_to_text

    rows = "".join(f"<tr><td>City {i}</td><td>{i * 37}</td></tr>" for i in range(300))
    record = TableQA(
        id="q1",
        question="Population of City 7?",
        answer="259",
        question_type="x",
        sub_type="",
        table_html=f"<table><tr><th>City</th><th>Pop</th></tr>{rows}</table>",
        table_path=None,
        image_path=None,
    )
    meta = {"pretrained": hub_cache.repo_id, "revision": "step-1", "max_gen_toks": 24}
    (doc,) = build_docs([record], "text_html", meta)["test"]
    step1 = AutoTokenizer.from_pretrained(hub_cache.sources["step-1"])
    assert doc["truncation"]["budget"] == hub_cache.max_positions("step-1") - 24
    assert doc["truncation"]["prompt_tokens"] == len(step1(doc_to_text(doc))["input_ids"])


def test_valid_merged_cache_supplies_the_same_tokenizer(hub_cache, direct, tmp_path):
    """A merged_cache built from hub base ``org/absent@step-1`` is read when the hub has no copy."""
    cache = tmp_path / "merged"
    shutil.copytree(hub_cache.sources["step-1"], cache)
    manifest = {
        "format": 1,
        "base": {"hub_id": "org/absent", "revision": "step-1"},
        "adapter": {"files": {}},
        "dtype": "float32",
    }
    (cache / "merge_manifest.json").write_text(json.dumps(manifest))
    args = {
        "pretrained": "org/absent",
        "revision": "step-1",
        "lora": "adapter",
        "merged_cache": str(cache),
    }
    assert _ids(load_tokenizer(args)) == _ids(direct["step-1"])
    assert load_model_config(args).max_position_embeddings == hub_cache.max_positions("step-1")
    stale = {**args, "revision": "step-2"}  # the cache was merged from another revision
    with pytest.raises(CheckpointError, match="org/absent"):
        load_tokenizer(stale)


def test_checkpoints_package_depends_only_on_errors():
    package = Path(__file__).resolve().parents[2] / "lm_eval_ext" / "checkpoints"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lm_eval_ext"):
                assert node.module in {"lm_eval_ext.errors"} or node.module.startswith(
                    "lm_eval_ext.checkpoints"
                ), (path.name, node.module)
            if isinstance(node, ast.Import):
                assert not any(
                    a.name.startswith("lm_eval_ext.")
                    and not a.name.startswith("lm_eval_ext.checkpoints")
                    for a in node.names
                ), path.name


def test_replay_of_a_chat_run_uses_the_runs_revision(hub_cache, direct):
    """rescore/merge apply a run's chat template with the tokenizer of the run's revision."""
    from lm_eval_ext.resume.offline.replay import ReplayLM

    for ref in ("step-1", "main"):
        lm = ReplayLM(
            lambda *a: (None, "unused"),
            model_args={"pretrained": hub_cache.repo_id, "revision": ref},
        )
        assert _ids(lm.tokenizer) == _ids(direct[ref])
        assert lm.tokenizer_name == hub_cache.repo_id.replace("/", "__")
