"""Structure-aware truncation on hand-made tables: headers kept, rows intact, budget met."""

from __future__ import annotations

import re

import pytest
from lxml import etree
from lxml import html as lxml_html

from lm_eval_ext.tables.html_compact import compact_html
from lm_eval_ext.tables.prompts import render_prompt
from lm_eval_ext.tables.tokens import PromptCounter
from lm_eval_ext.tables.truncate import fit_table

FORMAT = "AnswerName1, AnswerName2..."

# (fixture file, question, text of the row that must survive, header texts that must survive)
CASES = [
    (
        "multilevel_th.html",
        "What was the population of Hungary in 2020?",
        "Hungary",
        ["Country", "Population (millions)", "2010", "2020", "Capital"],
    ),
    (
        "spreadsheet_td.html",
        "What is the 2023 total of Smart home?",
        "Smart home",
        ["Quarterly revenue by division", "Division", "2022", "2023", "H1", "H2"],
    ),
    (
        "nested.html",
        "How large is the budget of the Legal team?",
        "Legal",
        ["Team", "Members", "Budget"],
    ),
    ("broken.html", "Who is the mayor of Nice?", "Nice", ["City", "Mayor", "Founded"]),
]


def _render(question):
    return lambda table: render_prompt("text_html", question, table, FORMAT)


def _rows(fragment: str) -> list[str]:
    """Top-level table rows of an HTML fragment, re-serialised (checks it parses)."""
    root = lxml_html.fromstring(f"<div>{fragment}</div>")
    rows = root.xpath("//table[not(ancestor::table)]/*/tr | //table[not(ancestor::table)]/tr")
    return [etree.tostring(r, encoding="unicode", method="html", with_tail=False) for r in rows]


def _gap_size(marker: str) -> int:
    """Rows a ``[rows A–B omitted]`` / ``[row A omitted]`` marker stands for."""
    first, last = re.search(r"\[rows? ([\d,]+)(?:–([\d,]+))? omitted\]", marker).groups()
    return int((last or first).replace(",", "")) - int(first.replace(",", "")) + 1


def _table_part(prompt: str) -> str:
    return prompt.split("Table:\n", 1)[1].split("\n\nQuestion: ", 1)[0]


def _full_tokens(counter, path, question) -> int:
    html = path.read_text(encoding="utf-8")
    return counter.count(_render(question)(compact_html(html).render()))


@pytest.mark.parametrize("name,question,needle,headers", CASES)
def test_truncated_table_keeps_headers_relevant_row_and_fits(
    tokenizer, table_fixtures, name, question, needle, headers
):
    counter = PromptCounter(tokenizer)
    path = table_fixtures / name
    html = path.read_text(encoding="utf-8")
    full = _full_tokens(counter, path, question)
    budget = full - 60  # forces dropping some rows, leaves room for headers
    fit = fit_table(html, question, _render(question), counter, budget)
    stats = fit.stats
    # Independent exact count of what the model will get.
    assert len(tokenizer(fit.prompt)["input_ids"]) == stats.prompt_tokens <= budget
    assert stats.truncated and stats.rows_dropped > 0 and stats.fits
    table = _table_part(fit.prompt)
    assert table == fit.table_html
    kept_rows = _rows(table)
    original_rows = set(_rows(compact_html(html).render()))
    marker = [r for r in kept_rows if re.search(r"\[rows? [\d,–]+ omitted\]", r)]
    assert len(marker) == stats.gaps >= 1
    assert sum(_gap_size(m) for m in marker) == stats.rows_dropped
    # Every kept row is a row of the compacted original, byte for byte.
    assert all(r in original_rows for r in kept_rows if r not in marker)
    assert len(kept_rows) - len(marker) == stats.header_rows + stats.rows_kept
    text = " ".join(lxml_html.fromstring(f"<div>{table}</div>").itertext())
    for header in headers:
        assert header in text
    assert needle in text
    assert "<style" not in table and "class=" not in table


@pytest.mark.parametrize("name,question,needle,headers", CASES)
def test_no_truncation_when_table_fits(tokenizer, table_fixtures, name, question, needle, headers):
    counter = PromptCounter(tokenizer)
    html = (table_fixtures / name).read_text(encoding="utf-8")
    fit = fit_table(html, question, _render(question), counter, 100_000)
    assert not fit.stats.truncated and fit.stats.rows_dropped == 0
    assert "omitted" not in fit.table_html
    assert fit.table_html == compact_html(html).render()


def test_compaction_is_lossless_for_text_and_spans(tokenizer, table_fixtures):
    html = (table_fixtures / "spreadsheet_td.html").read_text(encoding="utf-8")
    compact = compact_html(html).render()

    def cells(doc):
        root = lxml_html.fromstring(doc)
        return [
            (" ".join("".join(c.itertext()).split()), c.get("rowspan"), c.get("colspan"))
            for c in root.iter("td", "th")
        ]

    assert cells(compact) == cells(html)
    fit = fit_table(html, "any", _render("any"), PromptCounter(tokenizer), None)
    assert fit.stats.compaction_saved_tokens > 0
    assert fit.stats.compact_tokens < fit.stats.original_tokens
    assert "<style" not in compact and "mso-number-format" not in compact


def test_multi_row_headers_detected(table_fixtures):
    th = compact_html((table_fixtures / "multilevel_th.html").read_text(encoding="utf-8"))
    td = compact_html((table_fixtures / "spreadsheet_td.html").read_text(encoding="utf-8"))
    assert len(th.tables[0].header_rows) == 2
    assert len(td.tables[0].header_rows) == 3  # title, merged years, H1/H2/Total
    # The rowspan="2" body cell ties two rows into one unit.
    assert [u.n_rows for u in th.tables[0].units][:4] == [1, 1, 2, 1]


def test_rowspan_group_dropped_or_kept_whole(tokenizer, table_fixtures):
    html = (table_fixtures / "multilevel_th.html").read_text(encoding="utf-8")
    counter = PromptCounter(tokenizer)
    question = "What is the capital of the United Kingdom?"
    full = _full_tokens(counter, table_fixtures / "multilevel_th.html", question)
    fit = fit_table(html, question, _render(question), counter, full - 120)
    assert "United Kingdom" in fit.table_html and "London (revised)" in fit.table_html


def test_deterministic(tokenizer, table_fixtures):
    html = (table_fixtures / "spreadsheet_td.html").read_text(encoding="utf-8")
    counter = PromptCounter(tokenizer)
    q = "What is the 2022 H2 value of Wearables?"
    runs = [fit_table(html, q, _render(q), counter, 420) for _ in range(2)]
    compact_html.cache_clear()
    runs.append(fit_table(html, q, _render(q), counter, 420))
    assert runs[0].prompt == runs[1].prompt == runs[2].prompt
    assert runs[0].stats == runs[1].stats == runs[2].stats


def test_chat_template_counted(tokenizer, table_fixtures):
    import copy

    chat_tok = copy.deepcopy(tokenizer)
    chat_tok.chat_template = (
        "{% for m in messages %}<s>[{{ m['role'] }}] {{ m['content'] }} [/{{ m['role'] }}]"
        "{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}"
    )
    counter = PromptCounter(chat_tok, chat=True)
    html = (table_fixtures / "multilevel_th.html").read_text(encoding="utf-8")
    q = "What is the capital of Austria?"
    budget = counter.count(_render(q)(compact_html(html).render())) - 60
    assert budget > PromptCounter(tokenizer).count(_render(q)(compact_html(html).render())) - 60
    fit = fit_table(html, q, _render(q), counter, budget)
    templated = chat_tok.apply_chat_template(
        [{"role": "user", "content": fit.prompt}], tokenize=False, add_generation_prompt=True
    )
    assert len(chat_tok(templated)["input_ids"]) == fit.stats.prompt_tokens <= budget
    assert fit.stats.truncated and "Vienna" in fit.table_html


@pytest.mark.parametrize(
    "html",
    [
        "",
        "\x00\x01 garbage <<<>>>",
        "<div>" + "no table here " * 400,
        "<table><tr><td>unterminated " + "x" * 5000,
    ],
)
def test_broken_or_tableless_input_never_crashes(tokenizer, html):
    counter = PromptCounter(tokenizer)
    q = "What is in the table?"
    fit = fit_table(html, q, _render(q), counter, 300)
    assert fit.stats.prompt_tokens == counter.count(fit.prompt) <= 300
    assert "Question: What is in the table?" in fit.prompt
    assert fit.prompt.rstrip().endswith("[Final Answer]: " + FORMAT)


def test_broken_html_records_parse_errors(tokenizer, table_fixtures):
    html = (table_fixtures / "broken.html").read_text(encoding="utf-8")
    fit = fit_table(html, "q", _render("q"), PromptCounter(tokenizer), None)
    assert any("tabel" in e for e in fit.stats.parse_errors)
    assert fit.stats.error is None and fit.stats.body_rows == 5


def test_headers_larger_than_budget_fall_back_to_a_token_cut(tokenizer, table_fixtures):
    html = (table_fixtures / "spreadsheet_td.html").read_text(encoding="utf-8")
    counter = PromptCounter(tokenizer)
    q = "What is the 2023 total of Wearables?"
    base = counter.count(_render(q)(""))
    fit = fit_table(html, q, _render(q), counter, base + 20)
    assert fit.stats.fallback == "headers_exceed_budget" and fit.stats.truncated
    assert counter.count(fit.prompt) == fit.stats.prompt_tokens <= base + 20
    assert fit.prompt.rstrip().endswith("[Final Answer]: " + FORMAT)
