"""Which body rows a question is about: whole-token BM25 over each table's row units.

Cells and questions are split into whole tokens (``2022`` never matches ``20220``; a number is
one token with its thousands separators removed, so ``1,234`` matches ``1234``). Each unit is a
BM25 document of its own table, so a term weighs by how rare it is in that table and a term
found in more than half of the rows weighs nothing. Question terms found in the table's header
rows name a column, not a row, and are not used to rank rows.

The scores are Okapi BM25 as ``rank_bm25.BM25Okapi(corpus, epsilon=0)`` computes them (the tests
check this against that library), with document length counted in whitespace-separated words.
The library itself is not used here: it builds frequency tables for every term of every row
(0.5-1 s on a 20k-row table), while a question needs only its own few terms, whose postings are
found with a substring pre-filter and checked on whole tokens.

The order in which units are kept when a table must shrink:

1. *pinned* units: they hold a question term found in at most :data:`PIN_MAX_UNITS` units of
   the table (a unique identifier, a value quoted in the question);
2. other strong matches (score at least half the best);
3. the neighbours of 1 and 2 (context around the rows asked about);
4. the remaining matches, by score;
5. everything else, in table order.

Within 1 and 2, a unit with a whole cell quoted in the question comes first, longest quote
first ("District 99972" names its row even where a value cell elsewhere reads "99,972"), then
by score.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from lm_eval_ext.tables.table_blocks import CompactDoc, TableBlock, html_text

__all__ = ["PIN_MAX_UNITS", "Ranking", "question_terms", "rank_units", "tokenize"]

#: a question term found in at most this many units of a table pins them.
PIN_MAX_UNITS = 3
_STRONG_SHARE = 0.5
_K1, _B = 1.5, 0.75  # rank_bm25's BM25Okapi defaults
_CELL_HTML = re.compile(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", re.DOTALL)
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_TOKEN = re.compile(rf"(?<!\w)(?:{_NUMBER})(?!\w)|\w+")
_STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or not is are was were be been what which who"
    " whom whose when where why how many much does do did has have had this that these those it"
    " its as than then there their table row rows column columns value values total please"
    " give list all each per between among according".split()
)

Key = tuple[int, int]  # (table index, unit index)


def tokenize(text: str) -> list[str]:
    """Whole lower-case tokens of ``text``; numbers keep decimals and lose thousands separators."""
    return [t.replace(",", "") if "," in t else t for t in _TOKEN.findall(text.lower())]


def question_terms(question: str) -> tuple[str, ...]:
    """Content tokens of a question, in order, without repeats or stopwords."""
    seen: dict[str, None] = {}
    for token in tokenize(question):
        if token not in _STOPWORDS and (len(token) > 1 or token.isdigit()):
            seen.setdefault(token, None)
    return tuple(seen)


@dataclass(frozen=True)
class Ranking:
    """Units in keeping order, and how many body rows the question matched or pinned."""

    order: list[Key]
    matched_rows: int
    pinned_rows: int


def _surface_forms(term: str) -> set[str]:
    """Every way ``term`` can be written in a cell: a number may carry thousands separators."""
    whole, dot, decimals = term.partition(".")
    if not whole.isdigit() or len(whole) < 4:
        return {term}
    head = len(whole) % 3 or 3
    groups = [whole[:head]] + [whole[i : i + 3] for i in range(head, len(whole), 3)]
    return {term, ",".join(groups) + dot + decimals}


class _TableIndex:
    """Okapi BM25 over one table's units, for the terms questions ask about (built lazily).

    Cached on the compacted document, so the questions asked about one table share postings.
    """

    def __init__(self, table: TableBlock) -> None:
        self.texts = html_text([u.html for u in table.units])
        self.lengths = [len(t.split()) for t in self.texts]
        self.avg_length = max(sum(self.lengths) / max(len(self.texts), 1), 1e-9)
        self.header_terms = frozenset(tokenize(table.header_text))
        self._token_counts: dict[int, Counter] = {}
        self._postings: dict[str, dict[int, int]] = {}

    def postings(self, term: str) -> dict[int, int]:
        """``{unit index: occurrences}`` of the whole token ``term``."""
        if term not in self._postings:
            candidates = {
                i
                for form in _surface_forms(term)
                for i, text in enumerate(self.texts)
                if form in text
            }
            counts = {i: self._counts(i)[term] for i in sorted(candidates)}
            self._postings[term] = {i: n for i, n in counts.items() if n}
        return self._postings[term]

    def _counts(self, i: int) -> Counter:
        if i not in self._token_counts:
            self._token_counts[i] = Counter(tokenize(self.texts[i]))
        return self._token_counts[i]

    def scores(self, terms: list[str]) -> dict[int, float]:
        """BM25 score of each unit holding at least one of ``terms`` (the others score 0)."""
        n_units = len(self.texts)
        out: dict[int, float] = {}
        for term in terms:
            posting = self.postings(term)
            idf = max(math.log(n_units - len(posting) + 0.5) - math.log(len(posting) + 0.5), 0.0)
            for i, tf in posting.items():
                norm = _K1 * (1 - _B + _B * self.lengths[i] / self.avg_length)
                out[i] = out.get(i, 0.0) + idf * tf * (_K1 + 1) / (tf + norm)
        return out


def _index(doc: CompactDoc, k: int) -> _TableIndex:
    cache = doc.rank_cache
    if k not in cache:
        cache[k] = _TableIndex(doc.tables[k])
    return cache[k]


def rank_units(doc: CompactDoc, question: str) -> Ranking:
    """Order every unit of ``doc`` for keeping (see the module docstring)."""
    terms = question_terms(question)
    score: dict[Key, float] = {}
    pinned: set[Key] = set()
    for k, table in enumerate(doc.tables):
        if not table.units or not terms:
            continue
        index = _index(doc, k)
        row_terms = [t for t in terms if t not in index.header_terms]
        for i, value in index.scores(row_terms).items():
            if value > 0:
                score[(k, i)] = value
        for term in row_terms:
            holders = index.postings(term)
            if len(holders) <= PIN_MAX_UNITS:
                pinned.update((k, i) for i in holders)
    by_score = sorted(score, key=lambda u: (-score[u], u))
    cut = _STRONG_SHARE * max(score.values(), default=0.0)
    strong = [u for u in by_score if u not in pinned and score[u] >= cut]
    weak = [u for u in by_score if u not in pinned and score[u] < cut]
    quoted = _quoted_cells(doc, pinned | set(strong), tokenize(question))
    first = sorted(pinned, key=lambda u: (-quoted[u], -score.get(u, 0.0), u))
    strong.sort(key=lambda u: (-quoted[u], -score[u], u))
    order = first + strong
    seen = set(order)
    near = sorted(
        {(k, i + d) for k, i in order for d in (-1, 1) if 0 <= i + d < len(doc.tables[k].units)}
        - seen
    )
    seen.update(near)
    weak = [u for u in weak if u not in seen]
    seen.update(weak)
    rest = [
        (k, i) for k, t in enumerate(doc.tables) for i in range(len(t.units)) if (k, i) not in seen
    ]
    return Ranking(
        order=order + near + weak + rest,
        matched_rows=_rows(doc, set(score) | pinned),
        pinned_rows=_rows(doc, pinned),
    )


def _quoted_cells(doc: CompactDoc, units: set[Key], question: list[str]) -> dict[Key, int]:
    """Per unit, the most tokens of one of its cells that the question quotes contiguously."""
    keys = sorted(units)
    cells = [_CELL_HTML.findall(doc.tables[k].units[i].html) for k, i in keys]
    texts = iter(html_text([c for unit_cells in cells for c in unit_cells]))
    quoted_spans = {
        tuple(question[j : j + n])
        for n in range(1, len(question) + 1)
        for j in range(len(question) - n + 1)
    }
    out = {}
    for key, unit_cells in zip(keys, cells, strict=True):
        lengths = [
            len(t)
            for t in (tuple(tokenize(next(texts))) for _ in unit_cells)
            if t and t in quoted_spans
        ]
        out[key] = max(lengths, default=0)
    return out


def _rows(doc: CompactDoc, units: set[Key]) -> int:
    return sum(doc.tables[k].units[i].n_rows for k, i in units)
