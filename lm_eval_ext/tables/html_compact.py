"""Lossless compaction of spreadsheet-style HTML tables and their split into row units.

The compacted document keeps every text node and the ``rowspan``/``colspan`` structure but drops
``<style>``/``<script>``, comments, presentation attributes, presentation-only inline wrappers
(``<span>``, ``<font>``) and redundant whitespace. Each top-level ``<table>`` is split into header
rows (never dropped) and *units*: groups of body rows tied together by ``rowspan`` so that
dropping a unit never leaves a dangling merged cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from lxml import etree

__all__ = ["CompactDoc", "TableBlock", "Unit", "compact_html", "parse_lenient"]

_DROP_ELEMENTS = ("style", "script", "noscript", "meta", "link", "colgroup", "col", "template")
_UNWRAP_TAGS = ("span", "font")
_KEEP_ATTRS = ("rowspan", "colspan")
# Removed in one libxml2 pass; anything else left is handled element by element.
_PRESENTATION_ATTRS = (
    "class", "style", "height", "width", "align", "valign", "bgcolor", "border", "cellpadding",
    "cellspacing", "nowrap", "id", "lang", "dir", "face", "size", "color", "x:num", "x:str",
    "x:fmla", "num", "sdval", "sdnum", "span", "char", "charoff", "frame", "rules", "summary",
)
_STRUCTURAL = {"html", "head", "body", "table", "thead", "tbody", "tfoot", "tr"}
_CELL = {"td", "th"}
_SLOT = "\ue000lmext-slot-{}\ue000"
_MAX_ERRORS = 5


@dataclass(frozen=True)
class Unit:
    """One droppable group of body rows (rows linked by ``rowspan`` stay together)."""

    html: str
    text: str  # lower-cased cell text, for matching question terms
    n_rows: int


@dataclass
class TableBlock:
    """A top-level table: header rows (always kept) and droppable body units."""

    header_rows: list[str]
    units: list[Unit]
    n_cols: int

    @property
    def n_body_rows(self) -> int:
        """Number of body rows over all units."""
        return sum(u.n_rows for u in self.units)


@dataclass
class CompactDoc:
    """A compacted HTML document: skeleton text around table slots, plus the tables."""

    parts: list[str]
    tables: list[TableBlock]
    parse_errors: list[str]
    original_chars: int
    token_cache: dict = field(default_factory=dict, repr=False)

    def render(self, keep: list[list[int]] | None = None) -> str:
        """Serialise the document keeping, per table, only the unit indices in ``keep``.

        ``keep=None`` keeps everything. A table that lost rows gets one marker row at the end
        of its body saying how many rows were omitted.
        """
        out = [self.parts[0]]
        for k, table in enumerate(self.tables):
            kept = range(len(table.units)) if keep is None else keep[k]
            out.append(_render_table(table, kept))
            out.append(self.parts[k + 1])
        return "".join(out)


def _render_table(table: TableBlock, kept) -> str:
    pieces = []
    if table.header_rows:
        pieces.append("<thead>" + "".join(table.header_rows) + "</thead>")
    body = [table.units[i].html for i in kept]
    dropped = table.n_body_rows - sum(table.units[i].n_rows for i in kept)
    if dropped:
        body.append(marker_row(dropped, table.n_body_rows, table.n_cols))
    if body:
        pieces.append("<tbody>" + "".join(body) + "</tbody>")
    return "".join(pieces)


def marker_row(dropped: int, total: int, n_cols: int) -> str:
    """The single row that tells the model how many body rows were left out."""
    span = f' colspan="{n_cols}"' if n_cols > 1 else ""
    return f"<tr><td{span}>[{dropped} of {total} rows omitted to fit the context]</td></tr>"


def parse_lenient(html: str) -> tuple[etree._Element | None, list[str]]:
    """Parse HTML with libxml2's recovering parser; return the root and the parser's errors."""
    parser = etree.HTMLParser(
        recover=True, remove_comments=True, remove_pis=True, remove_blank_text=True
    )
    try:
        root = etree.fromstring(html, parser) if html.strip() else None
    except (etree.ParserError, ValueError) as err:
        return None, [f"parse failed: {err}"]
    errors = [
        f"line {e.line}:{e.column}: {e.message}" for e in parser.error_log
        if e.level >= etree.ErrorLevels.ERROR
    ]
    return root, errors[:_MAX_ERRORS]


@lru_cache(maxsize=16)
def compact_html(html: str) -> CompactDoc:
    """Compact an HTML document and split its top-level tables into header rows and units.

    Cached per HTML string: RealHiTBench asks several questions about one table.
    """
    root, errors = parse_lenient(html)
    if root is None:
        return CompactDoc(parts=[html], tables=[], parse_errors=errors or ["no HTML parsed"],
                          original_chars=len(html))
    etree.strip_elements(root, *_DROP_ELEMENTS, with_tail=False)
    etree.strip_tags(root, *_UNWRAP_TAGS)
    _strip_presentation(root)
    tables = []
    for k, table_el in enumerate(root.xpath("//table[not(ancestor::table)]")):
        tables.append(_split_table(table_el, k))
    if not tables:
        errors = errors + ["no <table> element found"]
    body = root.find("body")
    container = body if body is not None else root
    skeleton = _serialise_children(root, container)
    parts = _split_slots(skeleton, len(tables))
    return CompactDoc(parts=parts, tables=tables, parse_errors=errors, original_chars=len(html))


def _strip_presentation(root: etree._Element) -> None:
    """Drop every attribute except non-trivial rowspan/colspan; collapse whitespace.

    The bulk work happens in libxml2 (``strip_attributes`` and XPath filters); Python only
    touches the elements and text nodes that still need a decision.
    """
    etree.strip_attributes(root, *_PRESENTATION_ATTRS)
    for el in root.xpath("//*[@*]"):
        attrib = el.attrib
        keep = {}
        for name in _KEEP_ATTRS:
            value = (attrib.get(name) or "").strip()
            if value and value != "1":
                keep[name] = value
        attrib.clear()
        attrib.update(keep)
    for text in root.xpath("//text()[normalize-space(.) != .]"):
        _fix_text(text)


def _fix_text(text) -> None:
    """Squeeze one text node found by XPath (``is_text``: element text, else a tail)."""
    owner = text.getparent()
    if text.is_text:
        tag = owner.tag
        new = _squeeze(str(text), drop_blank=tag in _STRUCTURAL or tag in _CELL)
        if new and tag in _CELL:
            new = (new.lstrip() if len(owner) else new.strip()) or None
        owner.text = new
        return
    parent = owner.getparent()
    ptag = parent.tag if parent is not None else None
    new = _squeeze(str(text), drop_blank=ptag in _STRUCTURAL)
    if new and ptag in _CELL and owner is parent[-1]:
        new = new.rstrip() or None
    owner.tail = new


def _squeeze(text: str | None, drop_blank: bool) -> str | None:
    if not text:
        return text
    words = text.split()
    if not words:
        return None if drop_blank else " "
    core = " ".join(words)
    lead = " " if text[0].isspace() else ""
    trail = " " if text[-1].isspace() else ""
    return lead + core + trail


def _serialise_children(root: etree._Element, container: etree._Element) -> str:
    pieces = []
    title = root.find("head/title")
    if title is not None and (title.text or "").strip():
        pieces.append(etree.tostring(title, encoding="unicode", method="html", with_tail=False))
    pieces.append(container.text or "")
    for child in container:
        pieces.append(etree.tostring(child, encoding="unicode", method="html", with_tail=True))
    return "".join(pieces)


def _split_slots(skeleton: str, n_tables: int) -> list[str]:
    parts = []
    rest = skeleton
    for k in range(n_tables):
        before, _, rest = rest.partition(_SLOT.format(k))
        parts.append(before)
    parts.append(rest)
    return parts


def _table_rows(table_el: etree._Element) -> list[etree._Element]:
    return table_el.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")


def _split_table(table_el: etree._Element, k: int) -> TableBlock:
    """Detach the rows of one table, leaving a slot marker where they were."""
    rows = _table_rows(table_el)
    in_thead = [r.getparent().tag == "thead" for r in rows]
    n_header = _count_header_rows(rows, in_thead)
    header_html = [_row_html(r) for r in rows[:n_header]]
    spans = _rowspans(table_el.xpath(
        "./tr[*[@rowspan]] | ./thead/tr[*[@rowspan]] | ./tbody/tr[*[@rowspan]] | ./tfoot/tr[*[@rowspan]]"
    ))
    units = _group_units(rows[n_header:], spans)
    n_cols = max((_row_width(r) for r in rows[: n_header + 50]), default=1)
    for section in table_el.xpath("./thead | ./tbody | ./tfoot"):
        table_el.remove(section)
    for row in table_el.xpath("./tr"):
        table_el.remove(row)
    slot = _SLOT.format(k)
    if len(table_el):
        table_el[-1].tail = (table_el[-1].tail or "") + slot
    else:
        table_el.text = (table_el.text or "") + slot
    return TableBlock(header_rows=header_html, units=units, n_cols=max(n_cols, 1))


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
        html = "".join(_row_html(r) for r in group)
        text = " ".join(t for r in group for t in r.itertext()).lower()
        units.append(Unit(html=html, text=text, n_rows=len(group)))
        i = end
    return units
