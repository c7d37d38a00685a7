"""Read table-QA records: a generic local jsonl/json file, or a RealHiTBench directory.

Every record becomes a :class:`TableQA` with a unique ``id``, the question, the reference
answer, the table HTML (inline or read from a file), an optional image path and a question type.
Records are returned whether or not their files exist; :func:`missing_files` lists the ones a
modality cannot use, so that the caller can stop (default) or skip them, naming every file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval_ext.errors import TableFileError

__all__ = [
    "MissingFile",
    "TableQA",
    "find_realhitbench_dir",
    "load_generic",
    "load_realhitbench",
    "missing_files",
]

REALHITBENCH_FILES = {"final": "QA_final.json", "long": "QA_long.json"}
REALHITBENCH_ENV = "REALHITBENCH_DIR"


@dataclass(frozen=True)
class TableQA:
    """One question about one table."""

    id: str
    question: str
    answer: str
    question_type: str
    sub_type: str
    table_html: str | None
    table_path: str | None
    image_path: str | None
    answer_format: str | None = None

    def read_table(self) -> str:
        """The table HTML: inline, else read from ``table_path`` (undecodable bytes replaced).

        Raises:
            TableFileError: there is no table, or its file cannot be read (names id and file).
        """
        if self.table_html is not None:
            return self.table_html
        if self.table_path is None:
            raise TableFileError(f"question {self.id}: no table_html and no table_path")
        try:
            return Path(self.table_path).read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            raise TableFileError(
                f"question {self.id}: cannot read table file {self.table_path}: {err}"
            ) from err


@dataclass(frozen=True)
class MissingFile:
    """A file a question needs that cannot be used: which question, which file, what is wrong."""

    id: str
    file: str
    problem: str


def _file_problem(path: str) -> str | None:
    p = Path(path)
    if not p.exists():
        return "not found"
    if not p.is_file():
        return "not a file"
    if not os.access(p, os.R_OK):
        return "not readable"
    if p.stat().st_size == 0:
        return "empty"
    return None


def missing_files(records: list[TableQA], modality: str) -> list[MissingFile]:
    """Every table file (text modalities) and image file (image modalities) that is unusable.

    A text-modality record without inline ``table_html`` needs a readable, non-empty
    ``table_path``; ``mix_html``/``image`` records need an ``image_path`` the same way.
    """
    out = []
    for rec in records:
        needed = []
        if modality != "image" and rec.table_html is None:
            needed.append(("table_path", rec.table_path))
        if modality != "text_html":
            needed.append(("image_path", rec.image_path))
        for field_name, path in needed:
            problem = f"no {field_name} given" if path is None else _file_problem(path)
            if problem:
                out.append(MissingFile(id=rec.id, file=path or "-", problem=problem))
    return out


def _records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if isinstance(data, dict):
        for key in ("queries", "data", "examples"):
            if isinstance(data.get(key), list):
                return data[key]
        raise ValueError(f"{path}: expected a list or a dict with 'queries'/'data'/'examples'")
    return data


def _resolve(base: Path, value: str | None) -> str | None:
    if not value:
        return None
    p = Path(value)
    return str(p if p.is_absolute() else (base / p).resolve())


def load_generic(data_path: str | os.PathLike) -> list[TableQA]:
    """Load ``{id, question, answer, table_html | table_path, image_path?, question_type?}``.

    ``table_path``/``image_path`` are relative to the data file's folder. Ids must be unique.
    """
    path = Path(data_path)
    rows = []
    for n, rec in enumerate(_records(path)):
        answer = rec.get("answer")
        rows.append(
            TableQA(
                id=str(rec.get("id", n)),
                question=str(rec["question"]),
                answer=", ".join(map(str, answer)) if isinstance(answer, list) else str(answer),
                question_type=str(rec.get("question_type") or "Unknown"),
                sub_type=str(rec.get("sub_type") or ""),
                table_html=rec.get("table_html"),
                table_path=_resolve(path.parent, rec.get("table_path")),
                image_path=_resolve(path.parent, rec.get("image_path")),
                answer_format=rec.get("answer_format"),
            )
        )
    _check_unique(rows, str(path))
    return rows


def _check_unique(rows: list[TableQA], where: str) -> None:
    seen: set[str] = set()
    dup = sorted({r.id for r in rows if r.id in seen or seen.add(r.id)})
    if dup:
        raise ValueError(f"{where}: duplicate ids {dup[:10]}")


def find_realhitbench_dir(metadata: dict[str, Any]) -> Path:
    """The RealHiTBench root: metadata ``realhitbench_dir``, else ``$REALHITBENCH_DIR``."""
    value = metadata.get("realhitbench_dir") or os.environ.get(REALHITBENCH_ENV)
    if not value:
        raise ValueError(
            "RealHiTBench tasks need the data directory: pass "
            '--metadata \'{"realhitbench_dir": "/path/to/RealHiTBench"}\' or set '
            f"${REALHITBENCH_ENV}."
        )
    root = Path(value).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"RealHiTBench directory not found: {root}")
    return root


def _qa_file(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / "data" / name):
        if candidate.is_file():
            return candidate
    return None


def load_realhitbench(root: Path, subsets: list[str]) -> list[TableQA]:
    """Load RealHiTBench questions; ids become ``"<subset>-<id>"`` (they collide across files).

    Each question's table is ``html/<FileName>.html`` and its image ``image/<FileName>.png``;
    they are named whether or not they exist (see :func:`missing_files`).
    """
    rows: list[TableQA] = []
    for subset in subsets:
        if subset not in REALHITBENCH_FILES:
            raise ValueError(
                f"unknown RealHiTBench subset {subset!r}; use {list(REALHITBENCH_FILES)}"
            )
        qa_file = _qa_file(root, REALHITBENCH_FILES[subset])
        if qa_file is None:
            raise FileNotFoundError(
                f"{REALHITBENCH_FILES[subset]} not found in {root} or {root}/data"
            )
        for rec in _records(qa_file):
            rows.append(
                TableQA(
                    id=f"{subset}-{rec['id']}",
                    question=str(rec["Question"]),
                    answer=str(rec.get("FinalAnswer", rec.get("ProcessedAnswer", ""))),
                    question_type=str(rec.get("QuestionType") or "Unknown"),
                    sub_type=str(rec.get("SubQType") or ""),
                    table_html=None,
                    table_path=str(root / "html" / f"{rec['FileName']}.html"),
                    image_path=str(root / "image" / f"{rec['FileName']}.png"),
                )
            )
    _check_unique(rows, str(root))
    return rows
