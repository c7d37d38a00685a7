"""MMBench data: the hub dataset ``lmms-lab/MMBench`` or a local TSV/jsonl, as circular docs.

A local file (``--metadata '{"mmbench_file": "MMBench_DEV_EN.tsv"}'``) has MMBench's columns
(``index, question, hint, A, B, C, D, answer, category, L2-category, image``); its ``image`` is
base64 (MMBench's TSVs) or a path relative to the file. Base64 images are decoded once into
the user cache (``$LM_EVAL_EXT_CACHE_DIR/mmbench_images/``) so docs and logged samples carry a
path, not the image bytes.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import datasets

from lm_eval_ext.checkpoints.hashing import default_cache_file
from lm_eval_ext.errors import ImageLoadError
from lm_eval_ext.mmbench.circular import circular_docs

HUB_DATASET, HUB_CONFIG, HUB_SPLIT = "lmms-lab/MMBench", "en", "dev"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a local ``.tsv`` (MMBench's format) or ``.jsonl`` file."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    csv.field_size_limit(sys.maxsize)  # base64 images are long cells
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _image_dir(path: Path) -> Path:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    return default_cache_file().parent / "mmbench_images" / key[:16]


def localise_images(rows: list[dict[str, Any]], path: Path) -> None:
    """Replace each row's ``image`` by a file path (base64 decoded once; paths made absolute)."""
    out = _image_dir(path)
    for row in rows:
        value = str(row.get("image") or "")
        candidate = path.parent / value
        if value and len(value) < 1024 and candidate.is_file():
            row["image"] = str(candidate.resolve())
            continue
        target = out / f"{row['index']}.img"
        if not target.is_file():
            try:
                data = base64.b64decode(value, validate=True)
            except ValueError as exc:
                raise ImageLoadError(
                    f"{path}: row index {row['index']}: image is neither a file next to the "
                    f"file nor base64 ({exc})"
                ) from exc
            out.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        row["image"] = str(target)


def load_mmbench(mmbench_file: str | None = None, **_metadata: Any) -> datasets.DatasetDict:
    """The ``dev`` split as circular docs, from ``mmbench_file`` (metadata) or the hub."""
    if mmbench_file:
        path = Path(mmbench_file).expanduser()
        rows = read_rows(path)
        localise_images(rows, path)
    else:
        rows = list(datasets.load_dataset(HUB_DATASET, HUB_CONFIG, split=HUB_SPLIT))
    return datasets.DatasetDict({"dev": datasets.Dataset.from_list(circular_docs(rows))})
