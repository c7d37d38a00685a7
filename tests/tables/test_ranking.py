"""Row ranking: whole tokens, BM25 weights, header terms, pinned identifiers, gaps that fit."""

from __future__ import annotations

import random
import re
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lm_eval_ext.tables.html_compact import compact_html
from lm_eval_ext.tables.prompts import render_prompt
from lm_eval_ext.tables.ranking import _TableIndex, question_terms, rank_units, tokenize
from lm_eval_ext.tables.table_blocks import TableBlock, Unit
from lm_eval_ext.tables.tokens import PromptCounter
from lm_eval_ext.tables.truncate import fit_table

_MARKER = re.compile(r"\[rows? ([\d,]+)(?:–([\d,]+))? omitted\]")


def _render(question):
    return lambda table: render_prompt("text_html", question, table, "AnswerName1")


# -- tokens -----------------------------------------------------------------------------------

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzé", min_size=1, max_size=8)
_integer = st.integers(0, 10**9)
_piece = st.one_of(
    _word.map(lambda w: (w, w)),
    _integer.map(lambda n: (str(n), str(n))),
    _integer.map(lambda n: (f"{n:,}", str(n))),  # thousands separators
    st.tuples(_integer, st.integers(0, 999)).map(lambda t: (f"{t[0]:,}.{t[1]}", f"{t[0]}.{t[1]}")),
    st.text(alphabet="0123456789", min_size=2, max_size=6).map(lambda s: (s, s)),  # "07557"
)
_separator = st.sampled_from([" ", "  ", " / ", "; ", " (", ") ", " - ", "\n", " % ", " $"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_piece, min_size=1, max_size=12), st.data())
def test_tokens_are_whole_words_and_whole_numbers(pieces, data):
    seps = [data.draw(_separator) for _ in pieces]
    text = "".join(shown + sep for (shown, _), sep in zip(pieces, seps, strict=True))
    assert tokenize(text) == [token for _, token in pieces]


@given(st.integers(1000, 10**12))
def test_a_number_matches_itself_with_or_without_separators_and_nothing_longer(n):
    assert tokenize(f"{n:,}") == tokenize(str(n)) == [str(n)]
    assert tokenize(f"x {n}0 0{n} {n}5,000") != [str(n)]
    assert str(n) not in tokenize(f"total {n}0 and {n}.5 and 1{n}")


def test_question_terms_drop_stopwords_and_keep_numbers():
    assert question_terms("What was the Output of District 07557 in 2022?") == (
        "output",
        "district",
        "07557",
        "2022",
    )
    assert question_terms("Which city had sales of 1,234.5 in the UK?") == (
        "city",
        "sales",
        "1234.5",
        "uk",
    )


# -- BM25 scores equal rank_bm25's ------------------------------------------------------------

_doc = st.lists(
    st.sampled_from(["alpha", "beta", "gamma", "delta", "12", "2022", "x9"]), max_size=8
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_doc, min_size=1, max_size=25),
    st.lists(
        st.sampled_from(["alpha", "beta", "gamma", "delta", "12", "2022", "x9", "absent"]),
        min_size=1,
        max_size=4,
        unique=True,
    ),
)
def test_scores_are_okapi_bm25_as_rank_bm25_computes_them(corpus, query):
    from rank_bm25 import BM25Okapi

    units = [Unit(html=f"<tr><td>{' '.join(words)}</td></tr>", n_rows=1) for words in corpus]
    index = _TableIndex(TableBlock(header_rows=[], units=units, n_cols=1))
    ours = index.scores(query)
    if not any(corpus):
        assert not ours
        return
    reference = BM25Okapi(corpus, epsilon=0.0).get_scores(query)
    assert [ours.get(i, 0.0) for i in range(len(corpus))] == pytest.approx(list(reference))


# -- the table ------------------------------------------------------------------------


def _district_table(n_rows: int, seed: int = 3) -> tuple[str, list[str]]:
    """Two-level header; ids and values full of the substrings "2022" and "district"."""
    rng = random.Random(seed)
    head = (
        '<tr><td rowspan="2">Region</td><td rowspan="2">District</td>'
        '<td colspan="4">Output</td></tr><tr><td>2019</td><td>2020</td><td>2021</td>'
        "<td>2022</td></tr>"
    )
    ids = sorted([*rng.sample(range(100_000), n_rows - 3), 2022, 20220, 12022])
    labels, body = [], []
    for k, district in enumerate(ids):
        label = f"District {district:05d}"
        values = [rng.choice([2022, 20221, 12022, rng.randrange(1000, 99999)]) for _ in range(4)]
        body.append(
            f"<tr><td>Region {k % 9} districts</td><td>{label}</td>"
            + "".join(f"<td>{v:,}</td>" for v in values)
            + "</tr>\n"
        )
        labels.append(label)
    return f"<table>{head}{''.join(body)}</table>", labels


@cache
def _districts() -> tuple[str, list[str]]:
    """The 3,000-row table, built once (not a fixture: hypothesis would print it per example)."""
    return _district_table(3_000)


def _kept_labels(table_html: str) -> list[str]:
    return re.findall(r">(District \d{5})<", table_html)


def test_the_row_named_by_a_unique_id_survives_and_gaps_are_marked(tokenizer):
    html, labels = _districts()
    counter = PromptCounter(tokenizer)
    target = labels[2_471]
    question = f"What was the Output of {target} in 2022?"
    fit = fit_table(html, question, _render(question), counter, 1_500)
    kept = _kept_labels(fit.table_html)
    assert target in kept and fit.stats.pinned_rows == 1
    assert kept == sorted(kept, key=labels.index)  # table order
    assert counter.count(fit.prompt) == fit.stats.prompt_tokens <= 1_500
    markers = [m.groups() for m in _MARKER.finditer(fit.table_html)]
    assert len(markers) == fit.stats.gaps >= 2  # before and after the target's neighbourhood
    omitted = sum(int((b or a).replace(",", "")) - int(a.replace(",", "")) + 1 for a, b in markers)
    assert omitted == fit.stats.rows_dropped == 3_000 - len(kept)
    assert "[rows 1–" in fit.table_html or kept[0] == labels[0]


@settings(max_examples=25, deadline=None)
@given(target_index=st.integers(0, 2_999), extra=st.integers(0, 300))
def test_unique_id_row_kept_whenever_it_fits(tokenizer, target_index, extra):
    """Budget: headers, the row and the gap marker it opens (+ slack): the row is always kept.

    Ids are 5-digit numbers and values go up to 99,999, so an id's number may also be some
    other row's value: the row whose cell the question quotes whole must still come first.
    """
    html, labels = _districts()
    counter = PromptCounter(tokenizer)
    question = f"Output of {labels[target_index]} in 2022?"
    doc = compact_html(html)
    base = counter.count(_render(question)(doc.render([[]])))
    row = counter.count(doc.tables[0].units[target_index].html)
    marker = counter.count('<tr><td colspan="6">[rows 2,999–3,000 omitted]</td></tr>')
    budget = base + row + marker + 8 + extra
    fit = fit_table(html, question, _render(question), counter, budget)
    assert labels[target_index] in _kept_labels(fit.table_html), (target_index, budget)
    assert fit.stats.prompt_tokens <= budget and fit.stats.fits


def test_header_terms_and_common_terms_do_not_pick_rows():
    """ "2022" names a column and "districts" is in every row: neither pulls rows in."""
    html, labels = _districts()
    doc = compact_html(html)
    ranking = rank_units(doc, f"What was the 2022 Output of the districts {labels[1_234]}?")
    assert ranking.order[0] == (0, 1_234)
    assert ranking.matched_rows == ranking.pinned_rows == 1
    # 02022 / 20220 / 12022 are other numbers, not "2022"
    assert rank_units(doc, "Output in 2022 of districts?").matched_rows == 0


def test_a_quoted_cell_beats_a_bag_of_the_same_words():
    rows = [
        "<tr><td>Steel Northern Works</td><td>7</td></tr>",
        "<tr><td>Region 4</td><td>99,972</td></tr>",
        "<tr><td>Northern Steel Works</td><td>8</td></tr>",
        "<tr><td>District 99972</td><td>9</td></tr>",
    ] + [f"<tr><td>District {i}</td><td>{i}</td></tr>" for i in range(20)]
    doc = compact_html(f"<table><tr><th>Name</th><th>Amount</th></tr>{''.join(rows)}</table>")
    # same words, same BM25 score: the row whose cell the question quotes comes first
    assert rank_units(doc, "Amount of Northern Steel Works?").order[:2] == [(0, 2), (0, 0)]
    # "district" is in most rows (no weight), "99972" in two: the quoted cell decides
    assert rank_units(doc, "Amount of District 99972?").order[:2] == [(0, 3), (0, 1)]


def test_quoted_value_finds_its_row_with_or_without_separators(tokenizer):
    rows = "".join(f"<tr><td>Item {i}</td><td>{1000 + 37 * i:,}</td></tr>" for i in range(400))
    html = f"<table><tr><th>Name</th><th>Amount</th></tr>{rows}</table>"
    counter = PromptCounter(tokenizer)
    for shown in ("13,654", "13654"):  # item 342: 1000 + 37 * 342
        question = f"Which item has an amount of {shown}?"
        fit = fit_table(html, question, _render(question), counter, 400)
        assert ">Item 342<" in fit.table_html and fit.stats.truncated


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2_000),
    st.sampled_from(["Output of District 00412?", "Region 3 totals", "What is in the table?"]),
)
def test_every_budget_is_met_exactly_with_markers_counted(tokenizer, extra, question):
    rows = "".join(
        f"<tr><td>District {i:05d}</td><td>{i * 7919 % 100_000:,}</td></tr>"
        for i in range(0, 1_200, 3)
    )
    html = f"<table><tr><th>District</th><th>Output</th></tr>{rows}</table>"
    counter = PromptCounter(tokenizer)
    base = counter.count(_render(question)(compact_html(html).render([[]])))
    fit = fit_table(html, question, _render(question), counter, base + extra)
    assert counter.count(fit.prompt) == fit.stats.prompt_tokens <= base + extra
    assert fit.stats.fits and fit.stats.fallback is None
    assert len(_MARKER.findall(fit.table_html)) == fit.stats.gaps
