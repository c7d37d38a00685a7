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
* ``skip_missing_tables``: by default a question whose table (or, for image modalities, image)
  file is missing, empty or unreadable stops the run while the task is built, before any model
  call, with every such file listed; ``true`` skips those questions instead, lists them in the
  log and records them under :data:`SKIPPED_KEY` in the task metadata of ``results_*.json``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from lm_eval_ext.checkpoints.tokenizer import load_tokenizer, tokenizer_source
from lm_eval_ext.errors import LmEvalExtError, TableFileError
from lm_eval_ext.tables.data import (
    MissingFile,
    TableQA,
    find_realhitbench_dir,
    load_generic,
    load_realhitbench,
    missing_files,
)
from lm_eval_ext.tables.extract import extract_answer
from lm_eval_ext.tables.metrics import score_answer, slug
from lm_eval_ext.tables.prompts import answer_format_for, render_prompt
from lm_eval_ext.tables.tokens import PromptCounter, resolve_budget
from lm_eval_ext.tables.truncate import TruncationStats, fit_table

__all__ = [
    "SKIPPED_KEY",
    "SKIPPED_SPLIT",
    "build_docs",
    "doc_to_image",
    "doc_to_text",
    "load_html_table_qa",
    "load_realhitbench_docs",
    "process_results",
]

#: task-metadata key under which skipped questions are recorded (``results_*.json`` configs).
SKIPPED_KEY = "skipped_missing_files"
#: extra split of the built ``DatasetDict`` carrying the skipped questions to the task class.
SKIPPED_SPLIT = "skipped_missing_files"
_TRUE = {"true", "1", "yes", "on"}

log = logging.getLogger(__name__)


def load_html_table_qa(**kwargs: Any):
    """``custom_dataset`` for the generic task: reads metadata ``data_path`` (jsonl/json)."""
    if not kwargs.get("data_path"):
        raise ValueError(
            'html_table_qa needs a data file: --metadata \'{"data_path": "/path/qa.jsonl"}\''
        )
    records = load_generic(kwargs["data_path"])
    modality = kwargs.get("modality", "text_html")
    return build_docs(records, modality, kwargs, source=str(kwargs["data_path"]))


def load_realhitbench_docs(**kwargs: Any):
    """``custom_dataset`` for RealHiTBench variants: reads metadata ``realhitbench_dir``."""
    modality = kwargs.get("modality", "text_html")
    subsets = kwargs.get("realhitbench_subsets") or ["final", "long"]
    if isinstance(subsets, str):
        subsets = [s.strip() for s in subsets.split(",") if s.strip()]
    root = find_realhitbench_dir(kwargs)
    return build_docs(load_realhitbench(root, list(subsets)), modality, kwargs, source=str(root))


def _excluded(records: list[TableQA], meta: dict[str, Any]) -> list[TableQA]:
    types = set(meta.get("exclude_question_types") or [])
    subs = set(meta.get("exclude_sub_types") or [])
    kept = [r for r in records if r.question_type not in types and r.sub_type not in subs]
    if len(kept) != len(records):
        log.warning(
            "html_table_qa: excluded %d of %d questions (question types %s, sub types %s: "
            "chart generation / LLM-judge items are not scored by this task)",
            len(records) - len(kept),
            len(records),
            sorted(types),
            sorted(subs),
        )
    return kept


def _drop_missing(
    records: list[TableQA], modality: str, meta: dict[str, Any], source: str
) -> tuple[list[TableQA], list[MissingFile]]:
    """Stop on questions whose files are unusable, or skip them with ``skip_missing_tables``."""
    missing = missing_files(records, modality)
    if not missing:
        return records, []
    listing = "\n".join(f"  {m.id}: {m.file} ({m.problem})" for m in missing)
    bad = {m.id for m in missing}
    what = f"{source}: {len(bad)} of {len(records)} questions ({modality})"
    if not _flag(meta.get("skip_missing_tables")):
        raise TableFileError(
            f"{what} have missing or unusable files (question id: file):\n{listing}\n"
            "Fix the paths, or pass --metadata '{\"skip_missing_tables\": true}' to skip them."
        )
    kept = [r for r in records if r.id not in bad]
    if not kept:
        raise TableFileError(
            f"{what}: every question's file is unusable, nothing to evaluate:\n{listing}"
        )
    log.warning(
        "html_table_qa: skip_missing_tables: skipping %s (question id: file):\n%s", what, listing
    )
    log.warning(
        "html_table_qa: %d of %d docs: %d skipped (missing table files)",
        len(kept),
        len(records),
        len(bad),
    )
    return kept, missing


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in _TRUE if isinstance(value, str) else bool(value)


def _counter_and_budget(
    meta: dict[str, Any], modality: str
) -> tuple[PromptCounter | None, int | None]:
    if modality == "image":
        return None, None
    source = tokenizer_source(meta)
    if source is None:
        if meta.get("max_input_tokens"):
            raise ValueError(
                "html_table_qa: max_input_tokens needs a tokenizer (model_args pretrained=...)"
            )
        log.warning("html_table_qa: no tokenizer in metadata; tables are compacted, not truncated")
        return None, None
    tokenizer = load_tokenizer(source)
    mode = str(meta.get("apply_chat_template", "auto")).lower()
    chat = mode in {"true", "1", "yes"} or (
        mode == "auto" and bool(getattr(tokenizer, "chat_template", None))
    )
    budget = resolve_budget(meta, tokenizer, int(meta.get("max_gen_toks") or 256))
    return PromptCounter(tokenizer, chat=chat), budget


def build_docs(
    records: list[TableQA], modality: str, meta: dict[str, Any], source: str = "html_table_qa"
):
    """Fit every record's table into the prompt budget; return ``DatasetDict({"test": ...})``.

    Questions with unusable files stop the build (:class:`TableFileError`) unless
    ``skip_missing_tables``; skipped ones travel in the extra split :data:`SKIPPED_SPLIT`,
    which :class:`~lm_eval_ext.tables.task.TableQATask` moves into the task metadata.
    """
    import datasets
    from tqdm import tqdm

    records = _excluded(records, meta)
    if not records:
        raise LmEvalExtError(f"{source}: no questions to evaluate (empty data, or all excluded)")
    records, skipped = _drop_missing(records, modality, meta, source)
    counter, budget = _counter_and_budget(meta, modality)
    docs = [
        _build_doc(r, modality, counter, budget)
        for r in tqdm(records, desc=f"html_table_qa: fitting tables ({modality})", leave=False)
    ]
    truncated = sum(d["truncation"]["truncated"] for d in docs)
    log.info(
        "html_table_qa: %d docs, budget %s tokens, %d tables truncated",
        len(docs),
        budget,
        truncated,
    )
    splits = {"test": datasets.Dataset.from_list(docs)}
    if skipped:
        splits[SKIPPED_SPLIT] = datasets.Dataset.from_list([asdict(m) for m in skipped])
    return datasets.DatasetDict(splits)


def _build_doc(
    rec: TableQA, modality: str, counter: PromptCounter | None, budget: int | None
) -> dict:
    answer_format = rec.answer_format or answer_format_for(rec.question_type, rec.sub_type)

    def render(table: str) -> str:
        return render_prompt(modality, rec.question, table, answer_format)

    stats = TruncationStats(budget=budget)
    table = ""
    if modality != "image":
        html = rec.read_table()  # raises TableFileError naming the question and the file
        if counter is not None:
            fit = fit_table(html, rec.question, render, counter, budget)
            table, stats = fit.table_html, fit.stats
        else:
            from lm_eval_ext.tables.html_compact import compact_html

            table = compact_html(html).render()
    return {
        "id": rec.id,
        "question": rec.question,
        "answer": rec.answer,
        "question_type": rec.question_type,
        "sub_type": rec.sub_type,
        "modality": modality,
        "answer_format": answer_format,
        "table_html": table,
        "image_path": rec.image_path,
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
