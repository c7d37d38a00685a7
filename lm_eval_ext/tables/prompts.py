"""Prompt templates for table QA: instructions, table, question and the answer-format line.

Only the table slot may be shortened by truncation; everything else in a template is fixed.
``<image>`` is lm-eval's multimodal placeholder (``hf-multimodal`` replaces it with the
model's image token).
"""

from __future__ import annotations

__all__ = ["DEFAULT_ANSWER_FORMAT", "MODALITIES", "answer_format_for", "render_prompt"]

MODALITIES = ("text_html", "mix_html", "image")
DEFAULT_ANSWER_FORMAT = "AnswerName1, AnswerName2..."
IMAGE_PLACEHOLDER = "<image>"

_INTRO = {
    "text_html": "You are given a table as HTML and a question about it.",
    "mix_html": "You are given a table as an image and the same table as HTML, and a question "
    "about it.",
    "image": "You are given a table as an image and a question about it.",
}
_RULES = (
    "Answer from the table only. Think briefly if needed, then end your reply with one line in "
    "exactly this format:\n[Final Answer]: {answer_format}\n"
    "Separate several items with commas; write numbers without units or thousands separators."
)


def answer_format_for(question_type: str, sub_type: str | None) -> str:
    """The answer-format hint RealHiTBench uses for a question type / subtype."""
    if sub_type == "Exploratory Analysis":
        return "CorrelationRelation, CorrelationCoefficient"
    return DEFAULT_ANSWER_FORMAT


def render_prompt(modality: str, question: str, table_html: str, answer_format: str) -> str:
    """Build the full prompt; ``table_html`` is the only part truncation may shorten."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    parts = []
    if modality != "text_html":
        parts.append(IMAGE_PLACEHOLDER)
    parts.append(_INTRO[modality] + " " + _RULES.format(answer_format=answer_format))
    if modality != "image":
        parts.append("Table:\n" + table_html)
    parts.append("Question: " + question)
    parts.append(f"Remember to end with: [Final Answer]: {answer_format}")
    return "\n\n".join(parts)
