"""A compacted table split into header rows and droppable row units, and its rendering.

Each top-level ``<table>`` becomes a :class:`TableBlock`: header rows (never dropped) and
*units*, groups of body rows tied together by ``rowspan`` so that dropping a unit never leaves
a dangling merged cell. Rendering keeps any subset of units in table order and puts one marker
row in every gap, e.g. ``[rows 9–7,556 omitted]``, so that the model never reads two
non-adjacent rows as neighbours.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate

from lxml import etree

__all__ = [
    "CompactDoc",
    "TableBlock",
    "Unit",
    "count_gaps",
    "gap_marker",
    "html_text",
    "split_table",
]

_CELL = {"td", "th"}
_TAG = re.compile(r"<[^>]*>")
SLOT = "\ue000lmext-slot-{}\ue000"


def html_text(fragments: Sequence[str]) -> list[str]:
    """Lower-cased text of compacted HTML fragments, tags read as spaces (one regex pass).

    Compacted HTML has no comments, scripts or attributes other than numeric spans, so tags
    are the only markup; ``\x00`` cannot occur in serialised HTML and separates fragments.
    """
    joined = html_lib.unescape(_TAG.sub(" ", "\x00".join(fragments)))
    return joined.lower().split("\x00")


@dataclass(frozen=True)
class Unit:
    """One droppable group of body rows (rows linked by ``rowspan`` stay together)."""

    html: str
    n_rows: int

    @property
    def text(self) -> str:
        """Lower-cased cell text (for one unit; :func:`html_text` does many at once)."""
        return html_text([self.html])[0]


@dataclass
class TableBlock:
    """A top-level table: header rows (always kept) and droppable body units."""

    header_rows: list[str]
    units: list[Unit]
    n_cols: int

    @property
    def header_text(self) -> str:
        """Lower-cased text of the header rows."""
        return html_text(["".join(self.header_rows)])[0]

    @cached_property
    def row_starts(self) -> list[int]:
        """0-based first body row of each unit, plus the total number of body rows last."""
        return [0, *accumulate(u.n_rows for u in self.units)]

    @property
    def n_body_rows(self) -> int:
        """Number of body rows over all units."""
        return self.row_starts[-1]

    def render(self, kept: Iterable[int] | None) -> str:
        """``<thead>`` and ``<tbody>`` with the ``kept`` units (all if ``None``) and gap markers."""
        pieces = []
        if self.header_rows:
            pieces.append("<thead>" + "".join(self.header_rows) + "</thead>")
        indices = range(len(self.units)) if kept is None else sorted(set(kept))
        body, next_unit = [], 0
        for i in indices:
            if i > next_unit:
                body.append(self._marker(next_unit, i))
            body.append(self.units[i].html)
            next_unit = i + 1
        if next_unit < len(self.units):
            body.append(self._marker(next_unit, len(self.units)))
        if body:
            pieces.append("<tbody>" + "".join(body) + "</tbody>")
        return "".join(pieces)

    def _marker(self, first_unit: int, end_unit: int) -> str:
        starts = self.row_starts
        return gap_marker(starts[first_unit] + 1, starts[end_unit], self.n_cols)


@dataclass
class CompactDoc:
    """A compacted HTML document: skeleton text around table slots, plus the tables."""

    parts: list[str]
    tables: list[TableBlock]
    parse_errors: list[str]
    original_chars: int
    token_cache: dict = field(default_factory=dict, repr=False)
    rank_cache: dict = field(default_factory=dict, repr=False)

    def render(self, keep: Sequence[Iterable[int]] | None = None) -> str:
        """Serialise the document keeping, per table, only the unit indices in ``keep``.

        ``keep=None`` keeps everything. Kept rows stay in table order; each run of omitted
        rows is replaced by one marker row naming the 1-based body rows it stands for.
        """
        out = [self.parts[0]]
        for k, table in enumerate(self.tables):
            out.append(table.render(None if keep is None else keep[k]))
            out.append(self.parts[k + 1])
        return "".join(out)


def gap_marker(first_row: int, last_row: int, n_cols: int) -> str:
    """The marker row standing for omitted body rows ``first_row..last_row`` (1-based)."""
    span = f' colspan="{n_cols}"' if n_cols > 1 else ""
    rows = f"row {first_row:,}" if first_row == last_row else f"rows {first_row:,}–{last_row:,}"
    return f"<tr><td{span}>[{rows} omitted]</td></tr>"


def count_gaps(n_units: int, kept: Iterable[int]) -> int:
    """Number of runs of omitted units (= marker rows) when ``kept`` units are rendered."""
    gaps, previous = 0, -1
    for i in sorted(set(kept)):
        gaps += i > previous + 1
        previous = i
    return gaps + (previous + 1 < n_units)


def _row_html(row: etree._Element) -> str:
    return etree.tostring(row, encoding="unicode", method="html", with_tail=True)


def _cells(row: etree._Element) -> list[etree._Element]:
    return [c for c in row if c.tag in _CELL]


def _span(cell: etree._Element, name: str) -> int:
    try:
        return max(1, int(cell.get(name, "1")))
    except ValueError:
        return 1


def _row_width(row: etree._Element) -> int:
    return sum(_span(c, "colspan") for c in _cells(row))


def _table_rows(table_el: etree._Element) -> list[etree._Element]:
    return table_el.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")


def split_table(table_el: etree._Element, k: int) -> TableBlock:
    """Detach the rows of one table, leaving slot marker ``k`` where they were."""
    rows = _table_rows(table_el)
    in_thead = [r.getparent().tag == "thead" for r in rows]
    n_header = _count_header_rows(rows, in_thead)
    header_html = [_row_html(r) for r in rows[:n_header]]
    spans = _rowspans(
        table_el.xpath(
            "./tr[*[@rowspan]] | ./thead/tr[*[@rowspan]] | ./tbody/tr[*[@rowspan]]"
            " | ./tfoot/tr[*[@rowspan]]"
        )
    )
    units = _group_units(rows[n_header:], spans)
    n_cols = max((_row_width(r) for r in rows[: n_header + 50]), default=1)
    for section in table_el.xpath("./thead | ./tbody | ./tfoot"):
        table_el.remove(section)
    for row in table_el.xpath("./tr"):
        table_el.remove(row)
    slot = SLOT.format(k)
    if len(table_el):
        table_el[-1].tail = (table_el[-1].tail or "") + slot
    else:
        table_el.text = (table_el.text or "") + slot
    return TableBlock(header_rows=header_html, units=units, n_cols=max(n_cols, 1))


def _count_header_rows(rows: list[etree._Element], in_thead: list[bool]) -> int:
    """Header rows: ``<thead>`` rows, else leading all-``<th>`` rows, else the first row.

    The block is then extended over rows reached by a header ``rowspan`` and, for exports
    without ``<th>`` (spreadsheets), over a sub-header row below a row with merged
    (``colspan``) cells: that is how multi-level headers look there.
    """
    if not rows:
        return 0
    n = 0
    while n < len(rows) and in_thead[n]:
        n += 1
    explicit = n > 0
    if not explicit:
        while n < len(rows) and _cells(rows[n]) and all(c.tag == "th" for c in _cells(rows[n])):
            n += 1
        explicit = n > 0
    if not explicit:
        n = 1
        while n < len(rows) - 1 and any(_span(c, "colspan") > 1 for c in _cells(rows[n - 1])):
            n += 1
    i = 0
    while i < n:  # a header cell spanning down pulls the rows it covers into the header
        reach = max((i + _span(c, "rowspan") for c in _cells(rows[i])), default=i + 1)
        n = min(max(n, reach), len(rows))
        i += 1
    return n


def _rowspans(rows: list[etree._Element]) -> dict[etree._Element, int]:
    """Largest rowspan per row, for rows that have one (after compaction, few do)."""
    spans: dict[etree._Element, int] = {}
    for row in rows:
        for cell in row.xpath("./td[@rowspan] | ./th[@rowspan]"):
            spans[row] = max(spans.get(row, 1), _span(cell, "rowspan"))
    return spans


def _group_units(rows: list[etree._Element], spans: dict[etree._Element, int]) -> list[Unit]:
    units = []
    i = 0
    while i < len(rows):
        end = i + 1
        j = i
        while j < end:
            end = min(max(end, j + spans.get(rows[j], 1)), len(rows))
            j += 1
        group = rows[i:end]
        units.append(Unit(html="".join(_row_html(r) for r in group), n_rows=len(group)))
        i = end
    return units
