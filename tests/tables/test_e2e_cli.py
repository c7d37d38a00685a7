"""``lm_eval --tasks html_table_qa --model mgm_lora`` on the tiny model with an oversized table."""

from __future__ import annotations

import json

import pytest

from lm_eval_ext.tables.hooks import doc_to_text
from lm_eval_ext.tables.tokens import load_tokenizer
from tests.support.lm_eval_runs import read_results, read_samples, run_lm_eval

pytestmark = pytest.mark.e2e


def _big_table(n_rows: int) -> str:
    style = "".join(
        f".xl{i} {{border:.5pt solid windowtext; font-family:Arial;}}\n" for i in range(200)
    )
    head = (
        '<tr><td rowspan="2">City</td><td colspan="2">Population</td></tr>'
        "<tr><td>2010</td><td>2020</td></tr>"
    )
    body = "".join(
        f'<tr><td class="xl{i % 200}">City {i}</td>'
        f"<td>{1000 + i}</td><td>{2000 + 3 * i}</td></tr>\n"
        for i in range(n_rows)
    )
    return (
        f"<html><head><style>{style}</style></head><body><table>{head}{body}</table></body></html>"
    )


def test_cli_run_truncates_and_logs_stats(tiny_world, tasks_dir, tmp_path):
    (tmp_path / "big.html").write_text(_big_table(600))
    rows = [
        {
            "id": "big-1",
            "question": "What was the 2020 population of City 457?",
            "answer": "3371",
            "table_path": "big.html",
            "question_type": "Fact Checking",
        },
        {
            "id": "big-2",
            "question": "What was the 2010 population of City 12?",
            "answer": "1012",
            "table_path": "big.html",
            "question_type": "Numerical Reasoning",
        },
        {
            "id": "small",
            "question": "Capital?",
            "answer": "Oslo",
            "question_type": "Fact Checking",
            "table_html": "<table><tr><th>Capital</th></tr><tr><td>Oslo</td></tr></table>",
        },
    ]
    data = tmp_path / "qa.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out"
    run_lm_eval(
        [
            "--include_path",
            str(tasks_dir),
            "--tasks",
            "html_table_qa",
            "--model",
            "mgm_lora",
            "--model_args",
            f"pretrained={tiny_world.model_dir},dtype=float32",
            "--device",
            "cpu",
            "--batch_size",
            "1",
            "--gen_kwargs",
            "max_gen_toks=16",
            "--metadata",
            json.dumps({"data_path": str(data), "max_gen_toks": 16}),
            "--log_samples",
            "--output_path",
            str(out),
        ],
        cwd=tmp_path,
    )
    tokenizer = load_tokenizer(str(tiny_world.model_dir))
    samples = read_samples(out, "html_table_qa")
    assert [s["doc"]["id"] for s in samples] == ["big-1", "big-2", "small"]
    for s in samples:
        stats = s["doc"]["truncation"]
        assert stats["budget"] == 512 - 16
        assert stats["prompt_tokens"] <= stats["budget"]
        context = s["arguments"]["gen_args_0"]["arg_0"]
        assert context == doc_to_text(s["doc"])  # what the model saw is what was counted
        assert len(tokenizer(context)["input_ids"]) == stats["prompt_tokens"]
    big = samples[0]["doc"]["truncation"]
    assert big["original_tokens"] > 5 * big["budget"]  # far beyond the 512-token model
    assert big["truncated"] and big["rows_dropped"] > 500 and big["header_rows"] == 2
    assert "City 457<" in samples[0]["doc"]["table_html"]
    assert not samples[2]["doc"]["truncation"]["truncated"]
    results = read_results(out)["results"]["html_table_qa"]
    for metric in ("em,none", "f1,none", "rouge_l,none", "extract_fail,none", "truncated,none"):
        assert metric in results
    assert results["truncated,none"] == pytest.approx(2 / 3)
    # A rescore rebuilds the same prompts from the run's --metadata (data file, budget) and
    # gives back the whole results file unchanged.
    from lm_eval_ext.resume import latest_results_file, rescore_run, write_rescored
    from tests.support.results_diff import json_differences

    original = read_results(out)
    run, redone = rescore_run(latest_results_file(out))
    assert redone.excluded == {}
    assert json_differences(json.loads(write_rescored(run, redone).read_text()), original) == []
