"""TextVQA hooks: data loading (hub or local jsonl), prompts, images, VQA accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets

from lm_eval_ext.vqa import vqa_accuracy

HUB_DATASET = "lmms-lab/textvqa"
INSTRUCTION = "Answer the question using a single word or phrase."


def load_textvqa(textvqa_jsonl: str | None = None, **_metadata: Any) -> datasets.DatasetDict:
    """The ``validation`` split: from ``textvqa_jsonl`` (metadata) or the hub dataset."""
    if not textvqa_jsonl:
        return datasets.DatasetDict(
            {"validation": datasets.load_dataset(HUB_DATASET, split="validation")}
        )
    path = Path(textvqa_jsonl).expanduser().resolve()
    data = datasets.load_dataset("json", data_files={"validation": str(path)})
    return data.map(lambda d: {"image": str(path.parent / d["image"])})


def doc_to_image(doc: dict) -> list[Any]:
    """The document's image as a one-element list (a PIL image, or a path the model opens)."""
    from lm_eval_ext.models.vl_inputs import load_image

    return [load_image(doc["image"])]


def doc_to_text(doc: dict) -> str:
    """Question and instruction, image first (the layout of MGM's TextVQA eval)."""
    return f"<image>{doc['question']}\n{INSTRUCTION}"


def doc_to_text_ocr(doc: dict) -> str:
    """MGM's TextVQA prompt: ``<image>``, newline, question, ``Reference OCR token:`` line.

    MGM's eval loader puts ``<image>\n`` before the question (``model_vqa_loader.py``).
    """
    tokens = ", ".join(doc.get("ocr_tokens") or [])
    return f"<image>\n{doc['question']}\nReference OCR token: {tokens}\n{INSTRUCTION}"


def doc_to_target(doc: dict) -> str:
    """The most frequent human answer (for logging; scoring uses all ten)."""
    answers = doc["answers"]
    return max(set(answers), key=answers.count)


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """Official VQA accuracy of the generated answer against the ten human answers."""
    return {"vqa_acc": vqa_accuracy(results[0], doc["answers"])}
