"""HTML-table question answering: compaction, structure-aware truncation, answer extraction,
metrics and the lm-eval hooks of the ``html_table_qa`` / ``realhitbench_*`` tasks."""

from lm_eval_ext.tables.extract import Extraction, extract_answer
from lm_eval_ext.tables.html_compact import CompactDoc, compact_html, parse_lenient
from lm_eval_ext.tables.metrics import exact_match, normalize_answer, rouge_l, token_f1
from lm_eval_ext.tables.tokens import PromptCounter, load_tokenizer, resolve_budget
from lm_eval_ext.tables.truncate import FitResult, TruncationStats, fit_table, question_terms

__all__ = [
    "CompactDoc",
    "Extraction",
    "FitResult",
    "PromptCounter",
    "TruncationStats",
    "compact_html",
    "exact_match",
    "extract_answer",
    "fit_table",
    "load_tokenizer",
    "normalize_answer",
    "parse_lenient",
    "question_terms",
    "resolve_budget",
    "rouge_l",
    "token_f1",
]
