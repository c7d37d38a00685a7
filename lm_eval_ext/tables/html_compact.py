"""Lossless compaction of spreadsheet-style HTML tables and their split into row units.

The compacted document keeps the visible text of every cell (as a browser renders it, with
whitespace collapsed) and the ``rowspan``/``colspan`` structure, but drops ``<style>``/
``<script>``, comments, presentation attributes, presentation-only inline wrappers (``<span>``,
``<font>``, ``<a>``, ``<nobr>``, Office's ``<o:p>``) and redundant whitespace. ``<img>`` becomes
its ``alt`` text (an image without one shows no text); ``<br>`` stays, so line breaks inside a
cell still separate words. Tables are then split into header rows and droppable row units
(:mod:`lm_eval_ext.tables.table_blocks`).
"""

from __future__ import annotations

from functools import lru_cache

from lxml import etree

from lm_eval_ext.tables.table_blocks import SLOT, CompactDoc, TableBlock, Unit, split_table

__all__ = ["CompactDoc", "TableBlock", "Unit", "compact_html", "parse_lenient"]

_DROP_ELEMENTS = ("style", "script", "noscript", "meta", "link", "colgroup", "col", "template")
_UNWRAP_TAGS = ("span", "font", "a", "nobr", "o:p")
_KEEP_ATTRS = ("rowspan", "colspan")
# Removed in one libxml2 pass; anything else left is handled element by element.
_PRESENTATION_ATTRS = (
    "class",
    "style",
    "height",
    "width",
    "align",
    "valign",
    "bgcolor",
    "border",
    "cellpadding",
    "cellspacing",
    "nowrap",
    "id",
    "lang",
    "dir",
    "face",
    "size",
    "color",
    "x:num",
    "x:str",
    "x:fmla",
    "num",
    "sdval",
    "sdnum",
    "span",
    "char",
    "charoff",
    "frame",
    "rules",
    "summary",
)
_STRUCTURAL = {"html", "head", "body", "table", "thead", "tbody", "tfoot", "tr"}
_CELL = {"td", "th"}
_MAX_ERRORS = 5


def parse_lenient(html: str) -> tuple[etree._Element | None, list[str]]:
    """Parse HTML with libxml2's recovering parser; return the root and the parser's errors."""
    # remove_blank_text would drop "ignorable" blanks, which libxml2 guesses wrongly next to
    # unknown or void inline elements (<o:p>x</o:p> <img>): visible spaces would be lost.
    parser = etree.HTMLParser(
        recover=True, remove_comments=True, remove_pis=True, remove_blank_text=False
    )
    try:
        root = etree.fromstring(html, parser) if html.strip() else None
    except (etree.ParserError, ValueError) as err:
        return None, [f"parse failed: {err}"]
    errors = [
        f"line {e.line}:{e.column}: {e.message}"
        for e in parser.error_log
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
        return CompactDoc(
            parts=[html],
            tables=[],
            parse_errors=errors or ["no HTML parsed"],
            original_chars=len(html),
        )
    etree.strip_elements(root, *_DROP_ELEMENTS, with_tail=False)
    for img in root.xpath("//img[@alt != '']"):
        img.text = img.get("alt")  # strip_tags below keeps it as text where the image was
    etree.strip_tags(root, "img", *_UNWRAP_TAGS)
    _strip_presentation(root)
    tables = [
        split_table(table_el, k)
        for k, table_el in enumerate(root.xpath("//table[not(ancestor::table)]"))
    ]
    if not tables:
        errors = [*errors, "no <table> element found"]
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
    done: set[tuple[etree._Element, bool]] = set()
    for node in root.xpath("//text()[normalize-space(.) != .]"):
        key = (node.getparent(), bool(node.is_text))
        if key not in done:
            done.add(key)
            (_fix_text if key[1] else _fix_tail)(key[0])


# Unwrapping inline tags leaves runs of adjacent text nodes, which XPath returns one by one.
# Both fixers read and write the element's whole .text/.tail (lxml joins and replaces the run),
# never a single node: assigning one node's text would delete its neighbours.
def _fix_text(owner: etree._Element) -> None:
    """Squeeze the text before the first child of ``owner``."""
    tag = owner.tag
    new = _squeeze(owner.text, drop_blank=tag in _STRUCTURAL or tag in _CELL)
    if new and tag in _CELL:
        new = (new.lstrip() if len(owner) else new.strip()) or None
    owner.text = new


def _fix_tail(owner: etree._Element) -> None:
    """Squeeze the text after ``owner`` (up to its next sibling)."""
    parent = owner.getparent()
    ptag = parent.tag if parent is not None else None
    new = _squeeze(owner.tail, drop_blank=ptag in _STRUCTURAL)
    if new and ptag in _CELL and owner is parent[-1]:
        new = new.rstrip() or None
    owner.tail = new


def _squeeze(text: str | None, drop_blank: bool) -> str | None:
    """Collapse whitespace runs to one space (blank text: ``None`` if ``drop_blank``)."""
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
        before, _, rest = rest.partition(SLOT.format(k))
        parts.append(before)
    parts.append(rest)
    return parts
