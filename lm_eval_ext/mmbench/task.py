"""MMBench task hooks: MGM's prompt, the image, two scorings, circular and per-category metrics.

Both tasks report ``circular_acc`` (MMBench's number), ``acc`` (each rotation on its own), and
``circular_acc`` per category (``circular_acc_cat_<category>``) and per L2 category
(``circular_acc_l2_<L2 category>``), names lower-cased with non-alphanumerics as ``_``.
"""

from __future__ import annotations

import re
from typing import Any

from lm_eval.api.task import ConfigurableTask

from lm_eval_ext.errors import ImageLoadError
from lm_eval_ext.mmbench.circular import LETTERS, circular_accuracy
from lm_eval_ext.mmbench.extract import extract_option

INSTRUCTION = "Answer with the option's letter from the given choices directly."


def slug(name: str) -> str:
    """A metric-name-safe form of a category name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def category_metrics(doc: dict[str, Any]) -> list[str]:
    """The per-category metric names a doc contributes to."""
    names = []
    if doc.get("category"):
        names.append("circular_acc_cat_" + slug(doc["category"]))
    if doc.get("l2_category"):
        names.append("circular_acc_l2_" + slug(doc["l2_category"]))
    return names


def doc_to_text(doc: dict[str, Any]) -> str:
    """MGM's MMBench prompt: image, hint, question, lettered options, the instruction."""
    question = doc["question"] if not doc.get("hint") else f"{doc['hint']}\n{doc['question']}"
    options = "".join(f"\n{LETTERS[i]}. {text}" for i, text in enumerate(doc["options"]))
    return f"<image>\n{question}{options}\n{INSTRUCTION}"


def doc_to_choice(doc: dict[str, Any]) -> list[str]:
    """The option letters (loglikelihood scoring)."""
    return list(LETTERS[: len(doc["options"])])


def doc_to_target(doc: dict[str, Any]) -> int:
    """Index of the right letter in this rotation."""
    return LETTERS.index(doc["answer"])


def doc_to_image(doc: dict[str, Any]) -> list[Any]:
    """The doc's image: a PIL image (hub) or one opened from its path (named errors)."""
    from PIL import Image, UnidentifiedImageError

    value = doc["image"]
    if isinstance(value, Image.Image):
        return [value]
    try:
        image = Image.open(value)
        image.load()
    except (OSError, UnidentifiedImageError, TypeError, ValueError) as exc:
        raise ImageLoadError(
            f"MMBench index {doc['index']}: cannot read image {value}: {exc}"
        ) from exc
    return [image]


def _metrics(doc: dict[str, Any], correct: bool) -> dict[str, Any]:
    item = (doc["question_id"], correct)
    return {
        "circular_acc": item,
        "acc": float(correct),
        **dict.fromkeys(category_metrics(doc), item),
    }


def process_results_generation(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """Extract the option the answer names (letter, else option text); no match is wrong."""
    return _metrics(doc, extract_option(results[0], doc["options"]) == doc["answer"])


def process_results_loglikelihood(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict:
    """The letter with the highest log-likelihood is the answer."""
    scores = [ll for ll, _ in results]
    return _metrics(doc, scores.index(max(scores)) == doc_to_target(doc))


class MMBenchTask(ConfigurableTask):
    """lm-eval's task, with circular accuracy as the aggregation of every per-category metric."""

    def __init__(self, config: dict | None = None, **kwargs: Any) -> None:
        """Build the task as lm-eval would (without our ``class`` key)."""
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, **kwargs)
        self._category_names: list[str] | None = None

    def _categories(self) -> list[str]:
        if self._category_names is None:
            docs = self.eval_docs
            cats = (
                docs["category"] if hasattr(docs, "column_names") else [d["category"] for d in docs]
            )
            l2 = (
                docs["l2_category"]
                if hasattr(docs, "column_names")
                else [d["l2_category"] for d in docs]
            )
            names = {
                n
                for c, d in zip(cats, l2, strict=True)
                for n in category_metrics({"category": c, "l2_category": d})
            }
            self._category_names = sorted(names)
        return self._category_names

    def aggregation(self) -> dict:
        """lm-eval's aggregations plus circular accuracy for every category metric."""
        return {**super().aggregation(), **dict.fromkeys(self._categories(), circular_accuracy)}

    def higher_is_better(self) -> dict:
        """Every metric here is an accuracy."""
        return {**super().higher_is_better(), **dict.fromkeys(self._categories(), True)}
