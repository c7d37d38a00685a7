"""Fit an HTML table into a prompt under a token budget, structure-aware.

Order of operations (each step only if the previous one is not enough):

1. lossless compaction (:func:`~lm_eval_ext.tables.html_compact.compact_html`);
2. drop whole body-row units, never header rows, keeping first the units the question is about
   (:mod:`~lm_eval_ext.tables.ranking`: rows it names by a unique term, then by BM25 relevance,
   their neighbours, then the rest in table order); kept rows stay in table order and every
   gap gets one marker row (``[rows 9–7,556 omitted]``), whose tokens are budgeted too;
3. the final prompt is counted exactly and units are dropped until it fits.

The instructions, question and answer-format line live in the prompt template and are never cut.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from lm_eval_ext.tables.html_compact import CompactDoc, compact_html
from lm_eval_ext.tables.ranking import question_terms, rank_units
from lm_eval_ext.tables.table_blocks import count_gaps, gap_marker
from lm_eval_ext.tables.tokens import PromptCounter, count_pieces, estimate_tokens

__all__ = ["FitResult", "TruncationStats", "fit_table", "question_terms"]

_BATCH = 256
# Consecutive units that did not fit before the selection gives up (the room is then full).
_MAX_MISSES = 16

Key = tuple[int, int]


@dataclass
class TruncationStats:
    """What happened to one sample's table; logged with the sample."""

    budget: int | None = None
    prompt_tokens: int = 0
    original_tokens: int = 0
    compact_tokens: int = 0
    compaction_saved_tokens: int = 0
    counts_estimated: bool = False
    header_rows: int = 0
    body_rows: int = 0
    rows_kept: int = 0
    rows_dropped: int = 0
    matched_rows: int = 0
    pinned_rows: int = 0
    gaps: int = 0
    truncated: bool = False
    fits: bool = True
    fallback: str | None = None
    error: str | None = None
    parse_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A plain dict (JSON-serialisable)."""
        return asdict(self)


@dataclass
class FitResult:
    """The table HTML to put in the prompt, the prompt itself and the stats."""

    table_html: str
    prompt: str
    stats: TruncationStats


def _unit_counts(doc: CompactDoc, counter: PromptCounter) -> dict[tuple[int, int], int]:
    return doc.token_cache.setdefault(counter.key, {})


def _marker_costs(doc: CompactDoc, counter: PromptCounter) -> list[int]:
    """Tokens of one gap marker per table (the widest row numbers, plus one for safety)."""
    cache = doc.token_cache.setdefault("markers:" + counter.key, {})
    if "costs" not in cache:
        markers = [
            gap_marker(max(t.n_body_rows - 1, 1), t.n_body_rows, t.n_cols) for t in doc.tables
        ]
        cache["costs"] = [n + 1 for n in count_pieces(counter.tokenizer, markers)]
    return cache["costs"]


def _gap_change(kept: set[int], i: int, n_units: int) -> int:
    """Change in the number of gaps when unit ``i`` (not in ``kept``) is added to ``kept``."""
    left_gap = i > 0 and i - 1 not in kept
    right_gap = i < n_units - 1 and i + 1 not in kept
    return 1 if left_gap and right_gap else -1 if not (left_gap or right_gap) else 0


class _Selection:
    """Units chosen so far, per table, and the token cost of adding or removing one."""

    def __init__(self, doc: CompactDoc, counts: dict, markers: list[int]) -> None:
        self.doc, self.counts, self.markers = doc, counts, markers
        self.chosen: list[Key] = []
        self.kept: list[set[int]] = [set() for _ in doc.tables]

    def cost(self, unit: Key) -> int:
        """Tokens that adding ``unit`` (not chosen) costs, gap markers included."""
        k, i = unit
        change = _gap_change(self.kept[k], i, len(self.doc.tables[k].units))
        return self.counts[unit] + change * self.markers[k]

    def add(self, unit: Key) -> None:
        """Choose ``unit``."""
        self.chosen.append(unit)
        self.kept[unit[0]].add(unit[1])

    def pop(self) -> int:
        """Un-choose the lowest-priority unit; return the tokens that saves."""
        k, i = unit = self.chosen.pop()
        self.kept[k].discard(i)
        return self.cost(unit)


def _select(doc, order, counter, room) -> tuple[_Selection, bool]:
    """Units of ``order``, in order, whose token costs (gap markers included) fit in ``room``.

    A unit that does not fit is skipped (a smaller later one may); after ``_MAX_MISSES`` misses
    in a row the room is full. Units are counted lazily in batches, so a small budget never
    tokenises a huge table. Returns the selection and whether every unit was counted.
    """
    selection = _Selection(doc, _unit_counts(doc, counter), _marker_costs(doc, counter))
    counts, used, misses = selection.counts, 0, 0
    for start in range(0, len(order), _BATCH):
        batch = order[start : start + _BATCH]
        todo = [u for u in batch if u not in counts]
        texts = [doc.tables[k].units[i].html for k, i in todo]
        counts.update(zip(todo, count_pieces(counter.tokenizer, texts), strict=True))
        for u in batch:
            cost = selection.cost(u)
            if used + cost > room:
                misses += 1
                if misses >= _MAX_MISSES:
                    return selection, False
                continue
            misses = 0
            selection.add(u)
            used += cost
    return selection, True


def fit_table(
    html: str,
    question: str,
    render: Callable[[str], str],
    counter: PromptCounter,
    budget: int | None,
) -> FitResult:
    """Fit ``html`` into ``render(table_html)`` so the prompt has at most ``budget`` tokens.

    Args:
        html: the table document (any HTML; broken HTML is parsed leniently).
        question: used to rank rows by relevance.
        render: builds the full prompt around a table string; its other parts are never cut.
        counter: counts prompt tokens exactly as the model sees them.
        budget: maximum prompt tokens; ``None`` only compacts.

    Returns:
        The fitted table, the prompt and per-sample :class:`TruncationStats`. Never raises on
        bad HTML: errors are recorded and a token-level cut is used as the last resort.
    """
    stats = TruncationStats(budget=budget)
    try:
        return _fit(html, question, render, counter, stats)
    except Exception as err:  # noqa: BLE001 - a bad table must not stop a whole evaluation
        stats.error = f"{type(err).__name__}: {err}"
        return _token_cut(html, render, counter, stats)


def _fit(html, question, render, counter, stats) -> FitResult:
    doc = compact_html(html)
    stats.parse_errors = list(doc.parse_errors)
    stats.header_rows = sum(len(t.header_rows) for t in doc.tables)
    stats.body_rows = sum(t.n_body_rows for t in doc.tables)
    stats.original_tokens, est = _original_tokens(doc, html, counter)
    stats.counts_estimated = est
    base_table = doc.render([[] for _ in doc.tables])  # headers and one marker per table
    base_tokens = counter.count(render(base_table))
    ranking = rank_units(doc, question)
    stats.matched_rows, stats.pinned_rows = ranking.matched_rows, ranking.pinned_rows
    budget_room = stats.budget if stats.budget is not None else 1 << 62
    selection, complete = _select(doc, ranking.order, counter, max(budget_room - base_tokens, 0))
    _compact_stats(doc, counter, base_table, complete, stats)
    if base_tokens > budget_room:
        # Nothing structural fits (no tables, or headers alone too long): the budget wins.
        reason = "headers_exceed_budget" if doc.tables else "no_table_rows"
        stats.rows_dropped, stats.truncated = stats.body_rows, True
        return _token_cut(doc.render(), render, counter, stats, fallback=reason)
    table_html, prompt, n = _render_counted(doc, render, counter, selection)
    overshoot_round = 0
    while n > budget_room and selection.chosen:
        # Sums of piece counts can miss merges at piece boundaries: drop and count again.
        overshoot_round += 1
        _drop_for(selection, n - budget_room + 2 * overshoot_round)
        table_html, prompt, n = _render_counted(doc, render, counter, selection)
    stats.prompt_tokens = n
    stats.fits = n <= budget_room
    stats.rows_kept = sum(doc.tables[k].units[i].n_rows for k, i in selection.chosen)
    stats.rows_dropped = stats.body_rows - stats.rows_kept
    stats.truncated = stats.rows_dropped > 0
    stats.gaps = sum(
        count_gaps(len(t.units), kept) for t, kept in zip(doc.tables, selection.kept, strict=True)
    )
    return FitResult(table_html=table_html, prompt=prompt, stats=stats)


def _render_counted(doc, render, counter, selection: _Selection) -> tuple[str, str, int]:
    table_html = doc.render(selection.kept)
    prompt = render(table_html)
    return table_html, prompt, counter.count(prompt)


def _drop_for(selection: _Selection, need: int) -> None:
    """Drop lowest-priority units until the tokens they free cover ``need`` (at least one)."""
    while selection.chosen and need > 0:
        need -= selection.pop()


def _original_tokens(doc: CompactDoc, html: str, counter: PromptCounter) -> tuple[int, bool]:
    cache = doc.token_cache.setdefault("original:" + counter.key, {})
    if "n" not in cache:
        cache["n"], cache["est"] = estimate_tokens(counter.tokenizer, html)
    return cache["n"], cache["est"]


def _compact_stats(doc, counter, base_table, complete, stats) -> None:
    """Compacted-table tokens: skeleton + headers + units (unit sum extrapolated if partial)."""
    counts = _unit_counts(doc, counter)
    markers = [gap_marker(1, t.n_body_rows, t.n_cols) for t in doc.tables if t.units]
    base = sum(count_pieces(counter.tokenizer, [base_table])) - sum(
        count_pieces(counter.tokenizer, markers)
    )
    counted = list(counts)
    tokens = sum(counts.values())
    if not complete:
        chars_counted = sum(len(doc.tables[k].units[i].html) for k, i in counted)
        chars_all = sum(len(u.html) for t in doc.tables for u in t.units)
        tokens = round(tokens * chars_all / max(chars_counted, 1))
        stats.counts_estimated = True
    stats.compact_tokens = base + tokens
    stats.compaction_saved_tokens = stats.original_tokens - stats.compact_tokens


def _token_cut(text, render, counter, stats, fallback: str = "token_cut") -> FitResult:
    """Last resort for text without table rows: keep the leading tokens that fit."""
    stats.fallback = fallback
    budget = stats.budget
    tok = counter.tokenizer
    if budget is None:
        prompt = render(text)
        stats.prompt_tokens = counter.count(prompt)
        return FitResult(table_html=text, prompt=prompt, stats=stats)
    fixed = counter.count(render(""))
    keep = max(budget - fixed, 0)
    ids = tok(text[: max(keep, 1) * 16], add_special_tokens=False)["input_ids"][:keep]
    while True:
        cut = tok.decode(ids)
        prompt = render(cut)
        n = counter.count(prompt)
        if n <= budget or not ids:
            break
        ids = ids[: max(len(ids) - (n - budget) - 1, 0)]
    stats.prompt_tokens, stats.fits, stats.truncated = n, n <= budget, True
    return FitResult(table_html=cut, prompt=prompt, stats=stats)
