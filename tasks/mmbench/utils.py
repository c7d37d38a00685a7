"""MMBench task hooks (lm_eval_ext.mmbench), importable by the YAMLs as ``utils.*``."""

from lm_eval_ext.mmbench.circular import circular_accuracy
from lm_eval_ext.mmbench.data import load_mmbench
from lm_eval_ext.mmbench.task import (
    MMBenchTask,
    doc_to_choice,
    doc_to_image,
    doc_to_target,
    doc_to_text,
    process_results_generation,
    process_results_loglikelihood,
)

__all__ = [
    "MMBenchTask",
    "circular_accuracy",
    "doc_to_choice",
    "doc_to_image",
    "doc_to_target",
    "doc_to_text",
    "load_mmbench",
    "process_results_generation",
    "process_results_loglikelihood",
]
