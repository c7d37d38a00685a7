"""Benchmark: structure-aware truncation of a generated ~4 MB spreadsheet-style HTML table.

Builds the tiny offline tokenizer (no hub access), generates a table with a large inline
``<style>`` block, merged multi-level header cells and 20k body rows, and fits it into 8k, 32k
and 100k-token prompts. Each fit runs on a fresh (uncached) copy of the table, so the time
includes parsing, compaction, lazy row counting and the exact final count.

Run: ``python bench/truncate.py [--rows 20000] [--tokenizer DIR]``
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path


def make_table(n_rows: int, seed: int = 0) -> str:
    """A spreadsheet export: style block, 3-row hierarchical header, ``n_rows`` body rows."""
    rng = random.Random(seed)
    style = "".join(
        f".xl{i} {{mso-number-format:General; border:.5pt solid windowtext; font-family:Arial;"
        f" font-size:10.0pt; color:#{rng.randrange(1 << 24):06x}; background:#ffffff;}}\n"
        for i in range(1000)
    )
    head = (
        '<tr><td class="xl1" colspan="8" style="height:20pt">Regional sales report</td></tr>'
        '<tr><td class="xl2" rowspan="2">Region</td><td class="xl2" rowspan="2">City</td>'
        '<td class="xl2" colspan="3">2023</td><td class="xl2" colspan="3">2024</td></tr>'
        "<tr>" + "".join(f'<td class="xl3">{q}</td>' for q in ["Q1", "Q2", "Q3"] * 2) + "</tr>"
    )
    body = []
    for i in range(n_rows):
        cells = [f"Region {i // 500}", f"City {i}"] + [
            f"{rng.uniform(0, 1e5):.2f}" for _ in range(6)
        ]
        body.append(
            "<tr>"
            + "".join(f"<td class=x{rng.randrange(1000)}>{c}</td>" for c in cells)
            + "</tr>\n"
        )
    return (
        f"<html><head><meta charset='utf-8'><style>\n{style}</style></head><body>"
        f"<table border=0 cellpadding=0 cellspacing=0 width=800>{head}{''.join(body)}</table>"
        "</body></html>"
    )


def _render(question: str):
    from lm_eval_ext.tables.prompts import render_prompt

    def render(table: str) -> str:
        return render_prompt("text_html", question, table, "AnswerName1, AnswerName2...")

    return render


def main() -> None:
    """Print time and token counts per budget."""
    from lm_eval_ext.tables.html_compact import compact_html
    from lm_eval_ext.tables.tokens import PromptCounter, load_tokenizer
    from lm_eval_ext.tables.truncate import fit_table

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--tokenizer", help="tokenizer dir (default: build the tiny one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = args.tokenizer
        if tok_dir is None:
            from lm_eval_ext.demo.tiny_world import build_tokenizer

            tok_dir = str(build_tokenizer(Path(tmp) / "tok", vocab_size=512))
        counter = PromptCounter(load_tokenizer(tok_dir))
        html = make_table(args.rows)
        question = "What were the 2024 Q2 sales of City 15123?"
        print(f"table: {len(html) / 1e6:.2f} MB, {args.rows} body rows, tokenizer {tok_dir}")
        # Warm-up on a small table (thread pools, caches): the timings are steady-state.
        fit_table(make_table(50, seed=1), question, _render(question), counter, 1_000)
        for budget in (8_000, 32_000, 100_000):
            compact_html.cache_clear()
            fresh = html + " "  # a new string object: nothing cached from the previous run
            render = _render(question)
            start = time.perf_counter()
            fit = fit_table(fresh, question, render, counter, budget)
            elapsed = time.perf_counter() - start
            s = fit.stats
            print(
                f"budget {budget:>7,}: {elapsed:.3f} s | original ~{s.original_tokens:,} tok"
                f" -> compact ~{s.compact_tokens:,} tok (saved ~{s.compaction_saved_tokens:,})"
                f" -> prompt {s.prompt_tokens:,} tok (exact) | rows kept {s.rows_kept:,},"
                f" dropped {s.rows_dropped:,} | City 15123 kept: {'City 15123<' in fit.table_html}"
                f" | estimated counts: {s.counts_estimated}"
            )


if __name__ == "__main__":
    main()
