"""The official VQA accuracy (VQA v2 / TextVQA, as in the EvalAI and MMF evaluators)."""

from lm_eval_ext.vqa.accuracy import normalize_answer, vqa_accuracy

__all__ = ["normalize_answer", "vqa_accuracy"]
