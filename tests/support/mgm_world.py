"""The offline MGM test world: tiny Gemma/Llama MGMs (single, sharded, .bin), a LoRA training
output, the tower dirs, images and the task data (image MC, TextVQA, an MMBench TSV)."""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from tests.support.tiny_mgm_lora import build_mgm_lora_output
from tests.support.tiny_mgm_tokenizers import build_gemma_like_tokenizer, build_llama_like_tokenizer
from tests.support.tiny_mgm_world import build_tiny_mgm, build_towers
from tests.support.tiny_vl_world import build_image_datasets

MMBENCH_COLUMNS = [
    "index",
    "question",
    "hint",
    "A",
    "B",
    "C",
    "D",
    "answer",
    "category",
    "L2-category",
    "image",
]


@dataclass(frozen=True)
class MGMWorld:
    """Paths of one built MGM world."""

    root: Path
    gemma_dir: Path
    gemma_sharded_dir: Path
    llama_dir: Path
    lora_dir: Path
    clip_dir: Path
    aux_dir: Path
    data_dir: Path

    @property
    def mmbench_tsv(self) -> Path:
        """The MMBench-format TSV (base64 images, circular copies for some questions)."""
        return self.data_dir / "mmbench_dev_en.tsv"


def _png_b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _row(
    index: int,
    question: str,
    options: list[str],
    answer: int,
    cat: str,
    l2: str,
    image: str,
    hint: str = "",
) -> dict:
    letters = "ABCD"
    row = {
        "index": index,
        "question": question,
        "hint": hint or "nan",
        "answer": letters[answer],
        "category": cat,
        "L2-category": l2,
        "image": image,
    }
    row.update({letters[i]: options[i] if i < len(options) else "nan" for i in range(4)})
    return row


def _rotations(index: int, question: str, options: list[str], answer: int, **kw) -> list[dict]:
    """MMBench's circular copies: rotation k shifts the options by k (index + k * 1e6)."""
    rows = []
    for k in range(len(options)):
        rotated = options[k:] + options[:k]
        rows.append(
            _row(index + k * 1_000_000, question, rotated, (answer - k) % len(options), **kw)
        )
    return rows


def build_mmbench_tsv(data_dir: Path, out: Path | None = None) -> Path:
    """Three questions: 4 options (with copies), 2 options (with copies), 3 options (base only).

    Images ``data_dir/images/img{0,1,2}.png``; written to ``out`` (default: in ``data_dir``).
    """
    images = [_png_b64(data_dir / f"images/img{i}.png") for i in range(3)]
    colors = ["red", "blue", "green", "yellow"]
    rows = _rotations(
        0,
        "What color is the background?",
        colors,
        1,
        cat="image_color",
        l2="Coarse Perception",
        image=images[0],
    )
    rows += _rotations(
        1,
        "Is there a square?",
        ["yes", "no"],
        0,
        cat="object_localization",
        l2="Fine-grained Perception (instance-level)",
        image=images[1],
        hint="Look at the picture.",
    )
    rows.append(
        _row(
            2,
            "Which color is used most?",
            colors[:3],
            2,
            "image_color",
            "Coarse Perception",
            images[2],
        )
    )
    out = out or data_dir / "mmbench_dev_en.tsv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MMBENCH_COLUMNS, delimiter="\t")
    writer.writeheader()
    writer.writerows(rows)
    out.write_text(buf.getvalue())
    return out


def build_mgm_world(root: Path) -> MGMWorld:
    """Build (or reuse, if complete) the whole MGM world under ``root``."""
    root = Path(root)
    world = MGMWorld(
        root=root,
        gemma_dir=root / "tiny-mgm-2b",
        gemma_sharded_dir=root / "tiny-mgm-2b-sharded",
        llama_dir=root / "tiny-mgm-7b",
        lora_dir=root / "tiny-mgm-2b-lora",
        clip_dir=root / "towers/clip-vit-tiny-openai",
        aux_dir=root / "towers/openclip-convnext-large-d-320-tiny",
        data_dir=root / "data",
    )
    marker = root / ".complete"
    if marker.exists():
        return world
    towers = build_towers(root / "towers")
    gemma_tok = build_gemma_like_tokenizer(root / "tokenizer-gemma")
    llama_tok = build_llama_like_tokenizer(root / "tokenizer-llama")
    build_tiny_mgm(world.gemma_dir, "gemma", gemma_tok, towers, layout="single")
    build_tiny_mgm(world.gemma_sharded_dir, "gemma", gemma_tok, towers, layout="sharded")
    build_tiny_mgm(world.llama_dir, "llama", llama_tok, towers, layout="bin")
    build_mgm_lora_output(world.gemma_dir, world.lora_dir)
    build_image_datasets(world.data_dir)
    build_mmbench_tsv(world.data_dir)
    marker.write_text("ok\n")
    return world
