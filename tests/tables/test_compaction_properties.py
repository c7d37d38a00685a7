"""Compaction keeps every cell's visible text; rendering with gaps keeps rows whole and in order.

The reference for "visible text" is independent of the compactor: the original document is
parsed with comments kept, and each cell's text is read the way a browser shows it (comments,
``<style>``/``<script>`` bodies and blank text between table rows invisible, ``<img>`` shown as
its ``alt``, ``<br>`` and cell/row boundaries as a break), with whitespace collapsed.
"""

from __future__ import annotations

import html as html_lib
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from lm_eval_ext.tables.html_compact import compact_html

_INVISIBLE = {"style", "script", "template", "noscript", "meta", "link", "col", "colgroup"}
_BREAKS = {"td", "th", "tr", "table", "thead", "tbody", "tfoot", "caption", "br", "p", "div"}
_TABLE_STRUCT = {"table", "thead", "tbody", "tfoot", "tr"}
_INLINE = ["span", "font", "a", "b", "i", "sup", "nobr", "o:p", "em"]
_TEXT_ALPHABET = "abcXYZ019,.-%$()" + " \t\n\xa0\u2003" + "&<>\"'é漢"


def _reference_parse(doc: str) -> etree._Element:
    parser = etree.HTMLParser(recover=True, remove_comments=False, remove_blank_text=False)
    return etree.fromstring(doc, parser)


def visible_text(cell: etree._Element) -> str:
    """What a reader sees in ``cell``, whitespace-collapsed (independent of the compactor)."""
    out: list[str] = []

    def visible(text: str | None, parent_tag: str) -> None:
        if text and not (parent_tag in _TABLE_STRUCT and not text.strip()):
            out.append(text)

    def walk(el: etree._Element) -> None:
        if not isinstance(el.tag, str) or el.tag in _INVISIBLE:
            return
        if el.tag == "img":
            out.append(el.get("alt") or "")
            return
        out.append(" " if el.tag in _BREAKS else "")
        visible(el.text, el.tag)
        for child in el:
            walk(child)
            visible(child.tail, el.tag)
        out.append(" " if el.tag in _BREAKS else "")

    walk(cell)
    return " ".join("".join(out).split())


def cell_view(doc: str) -> list[tuple[str, str, str]]:
    """(visible text, rowspan, colspan) of every cell, nested ones included, in document order."""
    root = _reference_parse(doc)
    if root is None:
        return []

    def span(cell, name):
        value = (cell.get(name) or "1").strip()
        return "1" if value in {"", "1"} else value

    return [
        (visible_text(c), span(c, "rowspan"), span(c, "colspan")) for c in root.iter("td", "th")
    ]


# -- generated tables -------------------------------------------------------------------------

_text = st.text(alphabet=_TEXT_ALPHABET, min_size=1, max_size=12).map(
    lambda s: html_lib.escape(s, quote=False)
)
_entity = st.sampled_from(["&amp;", "&nbsp;", "&lt;", "&#8211;", "&quot;", "&eacute;", " &nbsp; "])
_comment = st.text(alphabet="ab -", max_size=6).map(lambda s: f"<!--{s.replace('--', '')}-->")
_leaf = st.one_of(
    _text,
    _text,
    _entity,
    _comment,
    st.just("<br>"),
    st.just(" <br/> "),
    _text.map(lambda s: f'<img alt="{html_lib.escape(html_lib.unescape(s))}" src="x.png">'),
    st.just('<img src="logo.png">'),
    st.just("<style>.x{color:red}</style>"),
)
_ws = st.sampled_from(["", " ", "\n", "\n  "])


def _wrap(children: st.SearchStrategy) -> st.SearchStrategy:
    def tag(args):
        name, kids, attrs = args
        return f"<{name}{attrs}>{''.join(kids)}</{name}>"

    attrs = st.sampled_from(
        [
            "",
            ' class="xl65"',
            ' style="mso-number-format:0"',
            ' href="#r"',
            ' face="Arial" color="#f00"',
        ]
    )
    return st.tuples(st.sampled_from(_INLINE), st.lists(children, max_size=4), attrs).map(tag)


_inline = st.recursive(_leaf, _wrap, max_leaves=12)


@st.composite
def _cell(draw, tag: str, depth: int) -> str:
    parts = draw(st.lists(_inline, max_size=5))
    if depth < 1 and draw(st.integers(0, 7)) == 0:
        parts.insert(draw(st.integers(0, len(parts))), draw(_table(depth + 1)))
    spans = "".join(
        f' {name}="{draw(st.integers(1, 3))}"'
        for name in ("rowspan", "colspan")
        if draw(st.integers(0, 5)) == 0
    )
    return f"<{tag}{spans}>{draw(_ws)}{''.join(parts)}{draw(_ws)}</{tag}>"


@st.composite
def _table(draw, depth: int = 0) -> str:
    n_cols = draw(st.integers(1, 4))
    header = [draw(_cell("th", depth)) for _ in range(n_cols)]
    rows = [
        "<tr>" + draw(_ws).join(draw(_cell("td", depth)) for _ in range(n_cols)) + "</tr>"
        for _ in range(draw(st.integers(0, 5)))
    ]
    head = (
        f"<thead><tr>{''.join(header)}</tr></thead>"
        if draw(st.booleans())
        else (f"<tr>{''.join(header)}</tr>")
    )
    return f'<table border="1">{draw(_ws)}{head}{draw(_ws)}{draw(_ws).join(rows)}</table>'


_documents = st.tuples(_table(), st.booleans()).map(
    lambda t: (
        f"<html><head><style>td {{color: red}}</style></head><body>{t[0]}</body></html>"
        if t[1]
        else t[0]
    )
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents)
def test_compaction_keeps_every_cells_visible_text_and_spans(doc):
    compact = compact_html(doc)
    assert cell_view(compact.render()) == cell_view(doc)


def test_issue_reproduction_keeps_every_character():
    doc = (
        "<table><tr><th>Total <span>2021</span></th><th>Net<span> </span>income</th></tr>"
        "<tr><td><font>1,234</font> </td><td>5</td></tr></table>"
    )
    out = compact_html(doc).render()
    assert [t for t, _, _ in cell_view(out)] == ["Total 2021", "Net income", "1,234", "5"]
    assert "<span" not in out and "<font" not in out


def test_images_become_alt_text_and_breaks_separate_words():
    doc = (
        '<table><tr><th>Trend</th><th>Note</th></tr><tr><td><img src="up.png" alt="▲"> '
        '<img alt="up"><img src="spacer.gif">5%</td><td>line<br>break<a href="#x">link</a>'
        "</td></tr></table>"
    )
    out = compact_html(doc).render()
    assert "<img" not in out and "<a" not in out and "<br>" in out
    assert [t for t, _, _ in cell_view(out)] == ["Trend", "Note", "▲ up5%", "line breaklink"]


def test_fixture_tables_keep_visible_text(table_fixtures):
    for path in sorted(table_fixtures.rglob("*.html")):
        doc = path.read_text(encoding="utf-8")
        assert cell_view(compact_html(doc).render()) == cell_view(doc), path.name


# -- rendering with gaps ----------------------------------------------------------------------

_MARKER = re.compile(r"\[rows? ([\d,]+)(?:–([\d,]+))? omitted\]")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=30), st.data())
def test_gaps_get_one_marker_each_and_kept_rows_stay_in_order(spans, data):
    """Units of 1-3 rows (rowspan groups); any subset kept; markers name exactly the gaps."""
    rows, number = [], 0
    for span in spans:
        cells = [f'<td rowspan="{span}">g{number + 1}</td>' if span > 1 else ""]
        for r in range(span):
            number += 1
            rows.append(f"<tr>{cells[0] if r == 0 else ''}<td>r{number}</td></tr>")
    doc = compact_html(f"<table><tr><th>k</th><th>v</th></tr>{''.join(rows)}</table>")
    table = doc.tables[0]
    kept = sorted(data.draw(st.sets(st.integers(0, len(spans) - 1))))
    body = etree.fromstring(doc.render([kept]), etree.HTMLParser()).xpath("//tbody/tr")
    seen_rows, expected_row, gaps = [], 1, 0
    for tr in body:
        text = "".join(tr.itertext())
        marker = _MARKER.fullmatch(text)
        if marker:
            first = int(marker.group(1).replace(",", ""))
            last = int((marker.group(2) or marker.group(1)).replace(",", ""))
            assert first == expected_row and last >= first  # contiguous, no overlap
            expected_row, gaps = last + 1, gaps + 1
        else:
            row = int(text.split("r")[-1])
            assert row == expected_row
            seen_rows.append(row)
            expected_row += 1
    assert expected_row == table.n_body_rows + 1  # every body row accounted for, in order
    kept_rows = {table.row_starts[i] + j + 1 for i in kept for j in range(table.units[i].n_rows)}
    assert set(seen_rows) == kept_rows
    previous_marker = False
    for tr in body:  # never two markers in a row: one marker per gap
        is_marker = bool(_MARKER.fullmatch("".join(tr.itertext())))
        assert not (is_marker and previous_marker)
        previous_marker = is_marker
