"""An offline tiny Qwen-VL world: tokenizer with Qwen special tokens, processor, random models.

No torchvision is needed to build it: the image processor is ``Qwen2VLImageProcessorPil``. The
model directory carries the processor files a Qwen2-VL hub checkpoint has (image and video
preprocessor configs, chat template, tokenizer with ``vocab.json``/``merges.txt``), so
``AutoProcessor`` behaves on it as on a real base: it loads where torchvision is installed and
raises for the video processor where it is not (``lm_eval_ext.models.vl_processor`` then loads
an image-only processor). Images are small synthetic PNGs drawn with PIL.
"""

from __future__ import annotations

import json
import random
import textwrap
from dataclasses import dataclass
from pathlib import Path

from lm_eval_ext.demo.tiny_world import build_tokenizer, randomize_lora_b

__all__ = [
    "QWEN2_VL_CHAT_TEMPLATE",
    "QWEN_VL_SPECIAL_TOKENS",
    "TinyVLWorld",
    "build_image_datasets",
    "build_qwen_vl_tokenizer",
    "build_tiny_qwen_vl",
    "build_vl_lora_adapter",
    "build_vl_world",
    "write_image_mc_task",
]

QWEN_VL_SPECIAL_TOKENS = [
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2-VL-Instruct's chat template (image/video placeholders inside the user turn).
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: LoRA targets: language attention/MLP and the vision-to-language projection (the merger MLP).
VL_LORA_TARGETS = ("q_proj", "v_proj", "o_proj", "down_proj", "merger.mlp.0", "merger.mlp.2")

#: Tiny image side: 56 px = 4x4 patches of 14 px = 4 image tokens after the 2x2 merge.
IMAGE_SIDE = 56


def build_qwen_vl_tokenizer(out_dir: Path) -> Path:
    """A local byte-level BPE tokenizer with Qwen's chat and vision special tokens added."""
    from transformers import AutoTokenizer

    base = build_tokenizer(Path(out_dir) / "_base")
    tok = AutoTokenizer.from_pretrained(base)
    tok.add_special_tokens({"additional_special_tokens": QWEN_VL_SPECIAL_TOKENS})
    tok.eos_token = "<|im_end|>"
    tok.chat_template = QWEN2_VL_CHAT_TEMPLATE
    tok.save_pretrained(out_dir)
    return Path(out_dir)


#: The processor and video processor classes a Qwen2-VL / Qwen2.5-VL checkpoint declares.
PROCESSOR_CLASS = "Qwen2VLProcessor"
VIDEO_PROCESSOR_CLASS = "Qwen2VLVideoProcessor"


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_hub_processor_files(tokenizer_dir: Path, out_dir: Path) -> None:
    """Write the processor files of a Qwen2-VL hub checkpoint into ``out_dir``.

    ``preprocessor_config.json`` (image processor), ``video_preprocessor_config.json`` (the video
    processor's config: the Qwen2-VL video processor shares the image processor's settings and
    needs torchvision to be *built*, not to be *described*), the tokenizer with its chat template,
    and ``vocab.json``/``merges.txt`` as Qwen2 tokenizers ship them.
    """
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, Qwen2VLImageProcessorPil

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(out_dir)
    Tokenizer.from_file(str(out_dir / "tokenizer.json")).model.save(str(out_dir))
    image = Qwen2VLImageProcessorPil(
        min_pixels=IMAGE_SIDE * IMAGE_SIDE, max_pixels=4 * IMAGE_SIDE * IMAGE_SIDE
    ).to_dict()
    image["processor_class"] = PROCESSOR_CLASS
    _write_json(out_dir / "preprocessor_config.json", image)
    video = {k: v for k, v in image.items() if k != "image_processor_type"}
    _write_json(
        out_dir / "video_preprocessor_config.json",
        {**video, "video_processor_type": VIDEO_PROCESSOR_CLASS},
    )


def _vl_config(family: str, tokenizer, hidden: int = 64):
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        initializer_range=0.2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    ids = {
        name: tokenizer.convert_tokens_to_ids(tok)
        for name, tok in [
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        ]
    }
    if family == "qwen2_vl":
        from transformers import Qwen2VLConfig

        vision = dict(
            depth=2,
            embed_dim=32,
            hidden_size=hidden,
            num_heads=4,
            mlp_ratio=2,
            initializer_range=0.2,
        )
        return Qwen2VLConfig(text_config=text, vision_config=vision, **ids, dtype="float32")
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        vision = dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            out_hidden_size=hidden,
            num_heads=4,
            fullatt_block_indexes=[1],
            window_size=56,
            initializer_range=0.2,
        )
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids, dtype="float32")
    raise ValueError(f"unknown tiny VL family {family!r} (qwen2_vl, qwen2_5_vl)")


def build_tiny_qwen_vl(
    out_dir: Path, tokenizer_dir: Path, *, family: str = "qwen2_vl", seed: int = 0
) -> Path:
    """Build a random tiny Qwen2-VL / Qwen2.5-VL and save it with its processor (HF format).

    Returns:
        ``out_dir``: config, safetensors weights and the processor files of a hub checkpoint
        (see :func:`save_hub_processor_files`).
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    config = _vl_config(family, AutoTokenizer.from_pretrained(tokenizer_dir))
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config).eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    save_hub_processor_files(tokenizer_dir, out_dir)
    return out_dir


def build_vl_lora_adapter(
    base_dir: Path,
    out_dir: Path,
    *,
    r: int = 4,
    b_std: float = 0.3,
    target_modules: tuple[str, ...] = VL_LORA_TARGETS,
    seed: int = 1,
) -> Path:
    """A PEFT LoRA adapter on language + vision-projection modules with non-zero B."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    base = AutoModelForImageTextToText.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(
        r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=list(target_modules)
    )
    peft_model = get_peft_model(base, config)
    randomize_lora_b(peft_model, std=b_std, seed=seed)
    peft_model.save_pretrained(Path(out_dir), safe_serialization=True)
    return Path(out_dir)


def _draw_image(path: Path, rng: random.Random) -> None:
    from PIL import Image, ImageDraw

    side = rng.choice([IMAGE_SIDE, 2 * IMAGE_SIDE])
    img = Image.new("RGB", (side, IMAGE_SIDE), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x, y = rng.randrange(side), rng.randrange(IMAGE_SIDE)
        draw.rectangle([x, y, x + 12, y + 12], fill=tuple(rng.randrange(256) for _ in range(3)))
    img.save(path)


def build_image_datasets(data_dir: Path, n_docs: int = 6, seed: int = 0) -> Path:
    """Write ``images/*.png``, ``image_mc.jsonl`` and ``textvqa_val.jsonl`` (TextVQA layout)."""
    rng = random.Random(seed)
    data_dir = Path(data_dir)
    (data_dir / "images").mkdir(parents=True, exist_ok=True)
    colors = ["red", "blue", "green", "yellow"]
    with (
        (data_dir / "image_mc.jsonl").open("w") as mc,
        (data_dir / "textvqa_val.jsonl").open("w") as vqa,
    ):
        for i in range(n_docs):
            image = f"images/img{i}.png"
            _draw_image(data_dir / image, rng)
            mc.write(
                json.dumps(
                    {
                        "id": f"imc-{i}",
                        "image": image,
                        "question": "What color is the background?",
                        "choices": colors,
                        "answer": rng.randrange(4),
                    }
                )
                + "\n"
            )
            answers = [rng.choice(colors) for _ in range(10)]
            vqa.write(
                json.dumps(
                    {
                        "question_id": i,
                        "image": image,
                        "question": "What color is the sign?",
                        "ocr_tokens": ["STOP", str(rng.randrange(100))],
                        "answers": answers,
                    }
                )
                + "\n"
            )
    return data_dir


IMAGE_MC_UTILS = """
from lm_eval_ext.models.vl_inputs import load_image
def doc_to_image(doc):
    return [load_image(doc["image"])]
"""


def write_image_mc_task(task_dir: Path, data_dir: Path) -> Path:
    """Task ``tiny_image_mc`` (image multiple choice over ``image_mc.jsonl``) in ``task_dir``."""
    task_dir.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (data_dir / "image_mc.jsonl").read_text().splitlines()]
    data = task_dir / "image_mc.jsonl"
    data.write_text(
        "".join(json.dumps({**r, "image": str(data_dir / r["image"])}) + "\n" for r in rows)
    )
    (task_dir / "utils.py").write_text(IMAGE_MC_UTILS)
    (task_dir / "image_mc.yaml").write_text(
        textwrap.dedent(f"""\
        task: tiny_image_mc
        dataset_path: json
        dataset_kwargs:
          data_files: {{test: {data}}}
        test_split: test
        output_type: multiple_choice
        doc_to_image: !function utils.doc_to_image
        doc_to_text: "<image>{{{{question}}}}\\nAnswer:"
        doc_to_choice: "{{{{choices}}}}"
        doc_to_target: answer
        metric_list:
          - metric: acc
        metadata:
          version: 1.0
        """)
    )
    return task_dir


@dataclass(frozen=True)
class TinyVLWorld:
    """Paths of one built tiny VL world."""

    root: Path
    tokenizer_dir: Path
    model_dir: Path
    lora_dir: Path
    data_dir: Path


def build_vl_world(root: Path, family: str = "qwen2_vl") -> TinyVLWorld:
    """Build (or reuse, if complete) a tiny Qwen-VL model, its LoRA adapter and image data."""
    root = Path(root)
    world = TinyVLWorld(
        root=root,
        tokenizer_dir=root / "tokenizer",
        model_dir=root / f"tiny-{family}",
        lora_dir=root / f"tiny-{family}-lora",
        data_dir=root / "data",
    )
    marker = root / ".complete"
    if marker.exists():
        return world
    build_qwen_vl_tokenizer(world.tokenizer_dir)
    build_tiny_qwen_vl(world.model_dir, world.tokenizer_dir, family=family)
    build_vl_lora_adapter(world.model_dir, world.lora_dir)
    build_image_datasets(world.data_dir)
    marker.write_text("ok\n")
    return world
