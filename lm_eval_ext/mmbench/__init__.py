"""MMBench with circular evaluation: data, prompts, rule-based option extraction, metrics."""

from lm_eval_ext.mmbench.circular import circular_accuracy, circular_docs
from lm_eval_ext.mmbench.extract import extract_option

__all__ = ["circular_accuracy", "circular_docs", "extract_option"]
