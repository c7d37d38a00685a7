"""Task YAMLs load through lm-eval's TaskManager; documents carry the truncation stats."""

from __future__ import annotations

import json
import shutil

import pytest

from lm_eval_ext.tables.hooks import doc_to_image, doc_to_text, process_results

VARIANTS = ("text_html", "mix_html", "image")


@pytest.fixture()
def realhitbench_dir(table_fixtures, tmp_path):
    """The hand-made fake RealHiTBench, plus table images drawn with PIL."""
    from PIL import Image, ImageDraw

    root = tmp_path / "RealHiTBench"
    shutil.copytree(table_fixtures / "realhitbench", root)
    (root / "image").mkdir()
    for html in (root / "html").glob("*.html"):
        img = Image.new("RGB", (160, 60), "white")
        ImageDraw.Draw(img).text((5, 20), html.stem, fill="black")
        img.save(root / "image" / f"{html.stem}.png")
    return root


def _load(tasks_dir, names, metadata):
    from lm_eval.tasks import TaskManager, get_task_dict

    tm = TaskManager(include_path=str(tasks_dir), include_defaults=False, metadata=metadata)
    return get_task_dict(names, tm)


def test_realhitbench_variants_load(tasks_dir, realhitbench_dir, tiny_world):
    meta = {
        "realhitbench_dir": str(realhitbench_dir),
        "pretrained": str(tiny_world.model_dir),
        "max_gen_toks": 32,
    }
    tasks = _load(tasks_dir, [f"realhitbench_{v}" for v in VARIANTS], meta)
    for variant in VARIANTS:
        task = tasks[f"realhitbench_{variant}"]
        docs = list(task.test_docs())
        ids = [d["id"] for d in docs]
        # id 1 and 2 exist in both files; Visualization / Summary Analysis items are excluded
        assert sorted(ids) == ["final-1", "final-2", "long-1", "long-2"]
        for doc in docs:
            text = doc_to_text(doc)
            assert doc["question"] in text and "[Final Answer]:" in text
            if variant == "image":
                assert "<table" not in text
            else:
                assert "<thead>" in doc["table_html"] and doc["table_html"] in text
                # budget = 512 positions - 32 generated tokens
                assert doc["truncation"]["budget"] == 480
                assert doc["truncation"]["prompt_tokens"] <= 480
            if variant != "text_html":
                assert text.startswith("<image>")
                (image,) = doc_to_image(doc)
                assert image.size == (160, 60) and image.mode == "RGB"
        cfg = task.config.to_dict() if hasattr(task.config, "to_dict") else vars(task.config)
        assert cfg["metadata"]["exclude_question_types"] == ["Visualization"]


def test_realhitbench_needs_a_directory(tasks_dir, tiny_world, monkeypatch):
    monkeypatch.delenv("REALHITBENCH_DIR", raising=False)
    with pytest.raises(Exception, match="realhitbench_dir"):
        _load(tasks_dir, ["realhitbench_text_html"], {"pretrained": str(tiny_world.model_dir)})


def test_generic_task_reads_jsonl_with_inline_and_file_tables(
    tasks_dir, table_fixtures, tmp_path, tiny_world
):
    data = tmp_path / "qa.jsonl"
    shutil.copy(table_fixtures / "nested.html", tmp_path / "nested.html")
    rows = [
        {
            "id": "a",
            "question": "Budget of Sales?",
            "answer": "800",
            "table_path": "nested.html",
            "question_type": "Fact Checking",
        },
        {
            "id": "b",
            "question": "Who?",
            "answer": ["x", "y"],
            "table_html": "<table><tr><th>k</th></tr><tr><td>x</td></tr></table>",
        },
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    meta = {
        "data_path": str(data),
        "tokenizer": str(tiny_world.tokenizer_dir),
        "max_input_tokens": 480,
    }
    task = _load(tasks_dir, ["html_table_qa"], meta)["html_table_qa"]
    docs = list(task.test_docs())
    assert [d["answer"] for d in docs] == ["800", "x, y"]
    assert docs[0]["truncation"]["truncated"] and docs[0]["truncation"]["prompt_tokens"] <= 480
    assert "Sales" in docs[0]["table_html"]
    out = process_results(docs[0], ["Sales has **[Final Answer]: 800**"])
    assert out["em"] == out["em_fact_checking"] == 1.0 and out["extract_fail"] == 0.0
    assert out["truncated"] == 1.0


def test_duplicate_ids_rejected(tmp_path):
    from lm_eval_ext.tables.data import load_generic

    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"id": 1, "question": "q", "answer": "a", "table_html": ""}] * 2))
    with pytest.raises(ValueError, match="duplicate ids"):
        load_generic(data)
