"""Fit an HTML table into a prompt under a token budget, structure-aware.

Order of operations (each step only if the previous one is not enough):

1. lossless compaction (:func:`~lm_eval_ext.tables.html_compact.compact_html`);
2. drop whole body-row units, never header rows, keeping units that mention question terms
   and their neighbours first, then the rest in table order; one marker row per table says how
   many rows were omitted;
3. the final prompt is counted exactly and units are dropped until it fits.

The instructions, question and answer-format line live in the prompt template and are never cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from lm_eval_ext.tables.html_compact import CompactDoc, compact_html
from lm_eval_ext.tables.tokens import PromptCounter, count_pieces, estimate_tokens

__all__ = ["FitResult", "TruncationStats", "fit_table", "question_terms"]

_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or not is are was were be been what which who"
    " whom whose when where why how many much does do did has have had this that these those it"
    " its as than then there their table row rows column columns value values total please"
    " give list all each per between among according".split()
)
_BATCH = 256
_MAX_ROUNDS = 12


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


def question_terms(question: str) -> frozenset[str]:
    """Content words of a question used to find relevant rows (lower-case, no stopwords)."""
    words = _WORD.findall(question.lower())
    return frozenset(w for w in words if w not in _STOPWORDS and (len(w) > 2 or w.isdigit()))


def _priority(doc: CompactDoc, terms: frozenset[str]) -> tuple[list[tuple[int, int]], int]:
    """Units ordered for keeping: matches (by score), their neighbours, then table order."""
    matched, rest, neighbours = [], [], set()
    for k, table in enumerate(doc.tables):
        for i, unit in enumerate(table.units):
            text = unit.text
            score = sum(1 for term in terms if term in text)
            if score:
                matched.append((-score, k, i))
                neighbours.update({(k, i - 1), (k, i + 1)})
    matched.sort()
    first = [(k, i) for _, k, i in matched]
    seen = set(first)
    near = sorted(n for n in neighbours if n not in seen and 0 <= n[1] < len(doc.tables[n[0]].units))
    seen.update(near)
    for k, table in enumerate(doc.tables):
        rest.extend((k, i) for i in range(len(table.units)) if (k, i) not in seen)
    n_matched_rows = sum(doc.tables[k].units[i].n_rows for k, i in first)
    return first + near + rest, n_matched_rows


def _unit_counts(doc: CompactDoc, counter: PromptCounter) -> dict[tuple[int, int], int]:
    return doc.token_cache.setdefault(counter.key, {})


def _select(doc, order, counter, room) -> tuple[list[tuple[int, int]], bool]:
    """Longest prefix of ``order`` whose summed unit token counts fit in ``room``.

    Units are counted lazily in batches, so a small budget never tokenises a huge table.
    Returns the selection and whether every unit was counted.
    """
    counts = _unit_counts(doc, counter)
    chosen, used = [], 0
    for start in range(0, len(order), _BATCH):
        batch = order[start : start + _BATCH]
        todo = [u for u in batch if u not in counts]
        texts = [doc.tables[k].units[i].html for k, i in todo]
        counts.update(zip(todo, count_pieces(counter.tokenizer, texts)))
        for u in batch:
            if used + counts[u] > room:
                return chosen, False
            chosen.append(u)
            used += counts[u]
    return chosen, True


def _keep_lists(doc: CompactDoc, chosen: list[tuple[int, int]]) -> list[list[int]]:
    keep: list[list[int]] = [[] for _ in doc.tables]
    for k, i in chosen:
        keep[k].append(i)
    return [sorted(x) for x in keep]


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
    base_table = doc.render([[] for _ in doc.tables])
    base_tokens = counter.count(render(base_table))
    order, stats.matched_rows = _priority(doc, question_terms(question))
    budget_room = stats.budget if stats.budget is not None else 1 << 62
    chosen, complete = _select(doc, order, counter, max(budget_room - base_tokens, 0))
    _compact_stats(doc, counter, base_table, chosen, complete, stats)
    if base_tokens > budget_room:
        # Nothing structural fits (no tables, or headers alone too long): the budget wins.
        reason = "headers_exceed_budget" if doc.tables else "no_table_rows"
        stats.rows_dropped, stats.truncated = stats.body_rows, True
        return _token_cut(doc.render(), render, counter, stats, fallback=reason)
    for _ in range(_MAX_ROUNDS):
        table_html = doc.render(None if len(chosen) == len(order) else _keep_lists(doc, chosen))
        prompt = render(table_html)
        n = counter.count(prompt)
        if n <= budget_room or not chosen:
            break
        chosen = _drop_for(doc, counter, chosen, n - budget_room)
    stats.prompt_tokens = n
    stats.fits = n <= budget_room
    stats.rows_kept = sum(doc.tables[k].units[i].n_rows for k, i in chosen)
    stats.rows_dropped = stats.body_rows - stats.rows_kept
    stats.truncated = stats.rows_dropped > 0
    return FitResult(table_html=table_html, prompt=prompt, stats=stats)


def _drop_for(doc, counter, chosen, overshoot: int) -> list[tuple[int, int]]:
    """Drop lowest-priority units until their summed counts cover ``overshoot`` (+ margin)."""
    counts = _unit_counts(doc, counter)
    need = overshoot + 2
    kept = list(chosen)
    while kept and need > 0:
        need -= counts[kept.pop()]
    return kept


def _original_tokens(doc: CompactDoc, html: str, counter: PromptCounter) -> tuple[int, bool]:
    cache = doc.token_cache.setdefault("original:" + counter.key, {})
    if "n" not in cache:
        cache["n"], cache["est"] = estimate_tokens(counter.tokenizer, html)
    return cache["n"], cache["est"]


def _compact_stats(doc, counter, base_table, chosen, complete, stats) -> None:
    """Compacted-table tokens: skeleton + headers + units (unit sum extrapolated if partial)."""
    counts = _unit_counts(doc, counter)
    base = sum(count_pieces(counter.tokenizer, [base_table]))
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
