"""Missing or unusable table/image files: the task stops naming them, or skips them when asked."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from lm_eval_ext.errors import TableFileError
from lm_eval_ext.tables.hooks import SKIPPED_KEY

TABLE = "<table><tr><th>City</th></tr><tr><td>Oslo</td></tr></table>"


def _load(tasks_dir, names, metadata):
    from lm_eval.tasks import TaskManager, get_task_dict

    tm = TaskManager(include_path=str(tasks_dir), include_defaults=False, metadata=metadata)
    return get_task_dict(names, tm)


@pytest.fixture()
def generic_data(tmp_path):
    """Four questions: one good file, one missing, one directory, one empty file."""
    (tmp_path / "good.html").write_text(TABLE)
    (tmp_path / "a_dir.html").mkdir()
    (tmp_path / "empty.html").write_text("")
    rows = [
        {"id": "good", "question": "City?", "answer": "Oslo", "table_path": "good.html"},
        {"id": "gone", "question": "City?", "answer": "Oslo", "table_path": "tables/gone.html"},
        {"id": "dir", "question": "City?", "answer": "Oslo", "table_path": "a_dir.html"},
        {"id": "blank", "question": "City?", "answer": "Oslo", "table_path": "empty.html"},
    ]
    data = tmp_path / "qa.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    return data


def test_missing_table_files_stop_the_task_naming_every_file(tasks_dir, generic_data, tiny_world):
    meta = {
        "data_path": str(generic_data),
        "tokenizer": str(tiny_world.tokenizer_dir),
        "max_input_tokens": 400,
    }
    with pytest.raises(TableFileError) as err:
        _load(tasks_dir, ["html_table_qa"], meta)
    message = str(err.value)
    root = generic_data.parent
    assert str(generic_data) in message and "3 of 4 questions" in message
    assert f"gone: {root / 'tables' / 'gone.html'} (not found)" in message
    assert f"dir: {root / 'a_dir.html'} (not a file)" in message
    assert f"blank: {root / 'empty.html'} (empty)" in message
    assert "good:" not in message and "skip_missing_tables" in message


def test_skip_missing_tables_skips_logs_and_records_them(
    tasks_dir, generic_data, tiny_world, caplog
):
    meta = {
        "data_path": str(generic_data),
        "tokenizer": str(tiny_world.tokenizer_dir),
        "max_input_tokens": 400,
        "skip_missing_tables": True,
    }
    with caplog.at_level(logging.WARNING, logger="lm_eval_ext.tables.hooks"):
        task = _load(tasks_dir, ["html_table_qa"], meta)["html_table_qa"]
    assert [d["id"] for d in task.test_docs()] == ["good"]
    assert "1 of 4 docs: 3 skipped (missing table files)" in caplog.text
    assert str(generic_data.parent / "tables" / "gone.html") in caplog.text
    # dump_config() is what lm-eval writes to results_*.json as configs.<task>
    record = task.dump_config()["metadata"][SKIPPED_KEY]
    assert (record["docs_total"], record["docs_kept"], record["docs_skipped"]) == (4, 1, 3)
    assert {(f["id"], f["problem"]) for f in record["files"]} == {
        ("gone", "not found"),
        ("dir", "not a file"),
        ("blank", "empty"),
    }
    assert set(task.dataset) == {"test"}


def test_all_files_missing_with_skip_is_a_clear_error(tasks_dir, tmp_path, tiny_world):
    data = tmp_path / "qa.jsonl"
    data.write_text(
        json.dumps({"id": "x", "question": "q", "answer": "a", "table_path": "no.html"})
    )
    meta = {
        "data_path": str(data),
        "tokenizer": str(tiny_world.tokenizer_dir),
        "max_input_tokens": 400,
        "skip_missing_tables": "true",
    }
    with pytest.raises(
        TableFileError, match=r"every question's file is unusable[\s\S]*x: .*no\.html"
    ):
        _load(tasks_dir, ["html_table_qa"], meta)


def test_record_without_any_table_is_not_scored_empty(tasks_dir, tmp_path, tiny_world):
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"id": "bare", "question": "q", "answer": "a"}))
    meta = {
        "data_path": str(data),
        "tokenizer": str(tiny_world.tokenizer_dir),
        "max_input_tokens": 400,
    }
    with pytest.raises(TableFileError, match=r"bare: - \(no table_path given\)"):
        _load(tasks_dir, ["html_table_qa"], meta)


@pytest.fixture()
def realhitbench_without_one_table(table_fixtures, tmp_path):
    root = tmp_path / "RealHiTBench"
    shutil.copytree(table_fixtures / "realhitbench", root)
    (root / "html" / "economy-table2.html").unlink()
    return root


def test_realhitbench_missing_html_named_with_question_ids(
    tasks_dir, realhitbench_without_one_table, tiny_world
):
    root = realhitbench_without_one_table
    meta = {
        "realhitbench_dir": str(root),
        "pretrained": str(tiny_world.model_dir),
        "max_gen_toks": 32,
    }
    with pytest.raises(TableFileError) as err:
        _load(tasks_dir, ["realhitbench_text_html"], meta)
    missing = root / "html" / "economy-table2.html"
    lines = [line.strip() for line in str(err.value).splitlines()]
    # final-2 and long-1 ask about economy-table2 (final-3 does too, but is excluded anyway)
    assert f"final-2: {missing} (not found)" in lines and f"long-1: {missing} (not found)" in lines
    assert "2 of 4 questions" in lines[0]
    task = _load(tasks_dir, ["realhitbench_text_html"], {**meta, "skip_missing_tables": True})[
        "realhitbench_text_html"
    ]
    assert sorted(d["id"] for d in task.test_docs()) == ["final-1", "long-2"]
    record = task.config.metadata[SKIPPED_KEY]
    assert sorted(f["id"] for f in record["files"]) == ["final-2", "long-1"]


def test_image_modalities_need_the_image_files(tasks_dir, table_fixtures, tmp_path, tiny_world):
    root = tmp_path / "RealHiTBench"
    shutil.copytree(table_fixtures / "realhitbench", root)  # has html/, no image/
    meta = {
        "realhitbench_dir": str(root),
        "pretrained": str(tiny_world.model_dir),
        "max_gen_toks": 32,
    }
    with pytest.raises(TableFileError, match=r"image/population-table1\.png \(not found\)"):
        _load(tasks_dir, ["realhitbench_image"], meta)
    assert (
        len(
            list(
                _load(tasks_dir, ["realhitbench_text_html"], meta)[
                    "realhitbench_text_html"
                ].test_docs()
            )
        )
        == 4
    )
