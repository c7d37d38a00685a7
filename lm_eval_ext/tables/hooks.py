"""lm-eval hooks for the ``html_table_qa`` task family (``custom_dataset``, ``doc_to_*``, results).

Documents are built once per task load: each table is compacted and fitted to the token budget
of the evaluated model, and the truncation stats are stored in the document so that they show
up in ``samples_*.jsonl`` (``--log_samples``) next to what the model saw.

Task metadata keys (YAML defaults, overridable with ``--metadata`` / ``--model_args``):

* ``pretrained`` / ``tokenizer``: the model's tokenizer (lm-eval merges ``--model_args`` in).
* ``max_input_tokens``: prompt budget; default = model max length - ``max_gen_toks``.
* ``max_length``: the model's max length if the config does not say (as in ``--model_args``).
* ``max_gen_toks``: generation length used for the default budget (keep in sync with
  ``--gen_kwargs max_gen_toks=...``).
* ``reserve_tokens``: subtracted from the budget (e.g. image tokens of a VLM).
* ``apply_chat_template``: ``auto`` (count with the tokenizer's chat template if it has one),
  ``true`` or ``false``.
* ``data_path`` (generic) / ``realhitbench_dir`` and ``realhitbench_subsets`` (RealHiTBench).
* ``exclude_question_types`` / ``exclude_sub_types``: dropped before evaluation (logged).
"""

from __future__ import annotations

import logging
from typing import Any

from lm_eval_ext.checkpoints.tokenizer import load_tokenizer, tokenizer_source
from lm_eval_ext.tables.data import TableQA, find_realhitbench_dir, load_generic, load_realhitbench
from lm_eval_ext.tables.extract import extract_answer
from lm_eval_ext.tables.metrics import score_answer, slug
from lm_eval_ext.tables.prompts import answer_format_for, render_prompt
from lm_eval_ext.tables.tokens import PromptCounter, resolve_budget
from lm_eval_ext.tables.truncate import TruncationStats, fit_table

__all__ = [
    "load_html_table_qa",
    "load_realhitbench_docs",
    "doc_to_text",
    "doc_to_image",
    "process_results",
    "build_docs",
]

log = logging.getLogger(__name__)


def load_html_table_qa(**kwargs: Any):
    """``custom_dataset`` for the generic task: reads metadata ``data_path`` (jsonl/json)."""
    if not kwargs.get("data_path"):
        raise ValueError(
            "html_table_qa needs a data file: --metadata '{\"data_path\": \"/path/qa.jsonl\"}'"
        )
    return build_docs(load_generic(kwargs["data_path"]), kwargs.get("modality", "text_html"), kwargs)


def load_realhitbench_docs(**kwargs: Any):
    """``custom_dataset`` for RealHiTBench variants: reads metadata ``realhitbench_dir``."""
    modality = kwargs.get("modality", "text_html")
    subsets = kwargs.get("realhitbench_subsets") or ["final", "long"]
    if isinstance(subsets, str):
        subsets = [s.strip() for s in subsets.split(",") if s.strip()]
    records = load_realhitbench(
        find_realhitbench_dir(kwargs), list(subsets),
        need_html=modality != "image", need_image=modality != "text_html",
    )
    return build_docs(records, modality, kwargs)


def _excluded(records: list[TableQA], meta: dict[str, Any]) -> list[TableQA]:
    types = set(meta.get("exclude_question_types") or [])
    subs = set(meta.get("exclude_sub_types") or [])
    kept = [r for r in records if r.question_type not in types and r.sub_type not in subs]
    if len(kept) != len(records):
        log.warning(
            "html_table_qa: excluded %d of %d questions (question types %s, sub types %s: "
            "chart generation / LLM-judge items are not scored by this task)",
            len(records) - len(kept), len(records), sorted(types), sorted(subs),
        )
    return kept


def _counter_and_budget(meta: dict[str, Any], modality: str) -> tuple[PromptCounter | None, int | None]:
    if modality == "image":
        return None, None
    source = tokenizer_source(meta)
    if source is None:
        if meta.get("max_input_tokens"):
            raise ValueError("html_table_qa: max_input_tokens needs a tokenizer (model_args pretrained=...)")
        log.warning("html_table_qa: no tokenizer in metadata; tables are compacted, not truncated")
        return None, None
    tokenizer = load_tokenizer(source)
    mode = str(meta.get("apply_chat_template", "auto")).lower()
    chat = mode in {"true", "1", "yes"} or (mode == "auto" and bool(getattr(tokenizer, "chat_template", None)))
    budget = resolve_budget(meta, tokenizer, int(meta.get("max_gen_toks") or 256))
    return PromptCounter(tokenizer, chat=chat), budget


def build_docs(records: list[TableQA], modality: str, meta: dict[str, Any]):
    """Fit every record's table into the prompt budget; return ``DatasetDict({"test": ...})``."""
    import datasets
    from tqdm import tqdm

    records = _excluded(records, meta)
    counter, budget = _counter_and_budget(meta, modality)
    docs = [_build_doc(r, modality, counter, budget)
            for r in tqdm(records, desc=f"html_table_qa: fitting tables ({modality})", leave=False)]
    truncated = sum(d["truncation"]["truncated"] for d in docs)
    log.info("html_table_qa: %d docs, budget %s tokens, %d tables truncated", len(docs), budget, truncated)
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def _build_doc(rec: TableQA, modality: str, counter: PromptCounter | None, budget: int | None) -> dict:
    answer_format = rec.answer_format or answer_format_for(rec.question_type, rec.sub_type)

    def render(table: str) -> str:
        return render_prompt(modality, rec.question, table, answer_format)

    stats = TruncationStats(budget=budget)
    table = ""
    if modality != "image":
        try:
            html = rec.read_table()
        except OSError as err:
            html, stats.error = "", f"{type(err).__name__}: {err}"
        if counter is not None:
            fit = fit_table(html, rec.question, render, counter, budget)
            table, stats = fit.table_html, fit.stats
        else:
            from lm_eval_ext.tables.html_compact import compact_html

            table = compact_html(html).render()
    return {
        "id": rec.id, "question": rec.question, "answer": rec.answer,
        "question_type": rec.question_type, "sub_type": rec.sub_type, "modality": modality,
        "answer_format": answer_format, "table_html": table, "image_path": rec.image_path,
        "truncation": stats.to_dict(),
    }


def doc_to_text(doc: dict) -> str:
    """The prompt, rebuilt from the fitted table exactly as it was counted."""
    return render_prompt(doc["modality"], doc["question"], doc["table_html"], doc["answer_format"])


def doc_to_image(doc: dict) -> list:
    """The table image as a list with one RGB ``PIL.Image`` (lm-eval's ``visual`` argument)."""
    from PIL import Image

    if not doc.get("image_path"):
        raise ValueError(f"doc {doc.get('id')}: no image_path for modality {doc.get('modality')}")
    with Image.open(doc["image_path"]) as img:
        return [img.convert("RGB")]


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """Extract the final answer and score it; per-question-type metrics are suffixed ``_<type>``."""
    extraction = extract_answer(results[0] if results else "")
    scores = score_answer(extraction.answer, doc["answer"])
    out: dict[str, float] = dict(scores)
    out["extract_fail"] = float(extraction.failed)
    out["truncated"] = float(bool(doc["truncation"]["truncated"]))
    suffix = slug(doc["question_type"])
    for name, value in scores.items():
        out[f"{name}_{suffix}"] = value
    return out
