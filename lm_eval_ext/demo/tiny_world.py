"""An offline, deterministic test world: tokenizer, tiny causal LM, LoRA adapter, MC data.

Everything here is built from configs with random weights and a tokenizer trained locally
with the `tokenizers` library, so tests, benchmarks and the demo never touch a model hub.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TinyWorld",
    "build_lora_adapter",
    "build_mc_dataset",
    "build_tiny_causal_lm",
    "build_tokenizer",
    "build_world",
    "corpus_lines",
    "randomize_lora_b",
]

SPECIAL_TOKENS = ["<|endoftext|>", "<s>", "<pad>"]

_WORDS = (
    "the a an of to in is was for on with as by at from that this it be are were has have "
    "model answer question table row column header value total year city country river "
    "mountain water fire earth light sound cat dog bird fish tree flower sun moon star "
    "red blue green yellow black white small large fast slow hot cold old new good bad "
    "one two three four five six seven eight nine ten hundred thousand percent number "
    "people time day night week month paris london berlin tokyo dubai abu dhabi river "
    "because which what where when who why how true false yes no not and or but if then"
).split()
_MARKUP = [
    "<table>",
    "</table>",
    "<tr>",
    "</tr>",
    "<td>",
    "</td>",
    "<th>",
    "</th>",
    "<thead>",
    "</thead>",
    "<tbody>",
    "</tbody>",
    'rowspan="2"',
    'colspan="3"',
    "[Final Answer]:",
    "Question:",
    "Answer:",
    "{",
    "}",
    '"answer":',
    "**",
]


def corpus_lines(n_lines: int = 2000, seed: int = 0) -> list[str]:
    """A deterministic synthetic corpus (words, numbers, punctuation, table markup)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        n = rng.randint(4, 16)
        parts = []
        for _ in range(n):
            r = rng.random()
            if r < 0.75:
                word = rng.choice(_WORDS)
                parts.append(word.capitalize() if rng.random() < 0.15 else word)
            elif r < 0.88:
                parts.append(str(rng.randint(0, 2025)) + rng.choice(["", ".5", "%", ","]))
            else:
                parts.append(rng.choice(_MARKUP))
        lines.append(" ".join(parts) + rng.choice([".", "?", "!", ":", ""]))
    return lines


def build_tokenizer(
    out_dir: Path, vocab_size: int = 512, lines: Iterable[str] | None = None
) -> Path:
    """Train a byte-level BPE tokenizer on the synthetic corpus and save it (HF format).

    Args:
        out_dir: directory to save ``tokenizer.json`` and friends into.
        vocab_size: target vocabulary size (special tokens included).
        lines: the training text (default: :func:`corpus_lines`).

    Returns:
        ``out_dir``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines() if lines is None else lines, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|endoftext|>",
        pad_token="<pad>",
        model_max_length=100_000,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return out_dir


def build_tiny_causal_lm(
    out_dir: Path,
    tokenizer_dir: Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 128,
    max_position_embeddings: int = 512,
    initializer_range: float = 0.2,
    seed: int = 0,
) -> Path:
    """Build a Llama-style causal LM with random weights and save it with its tokenizer.

    ``initializer_range`` is larger than Llama's default so the random model's next-token
    distributions are peaked enough for choices to differ (fewer argmax near-ties).

    Returns:
        ``out_dir``, a standard Hugging Face checkpoint directory.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        initializer_range=initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_lora_adapter(
    base_dir: Path,
    out_dir: Path,
    *,
    r: int = 4,
    alpha: int = 8,
    target_modules: tuple[str, ...] = ("q_proj", "v_proj", "o_proj", "down_proj"),
    b_std: float = 0.3,
    seed: int = 1,
) -> Path:
    """Create a PEFT LoRA adapter for ``base_dir`` whose B matrices are non-zero.

    PEFT initialises B to zero (a no-op adapter); random B makes merging change outputs,
    so a test can tell a merged model from the base.

    Returns:
        ``out_dir`` containing ``adapter_config.json`` and ``adapter_model.safetensors``.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=0.0,
        target_modules=list(target_modules),
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(base, config)
    randomize_lora_b(peft_model, std=b_std, seed=seed)
    out_dir = Path(out_dir)
    peft_model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def randomize_lora_b(peft_model, *, std: float, seed: int) -> None:
    """Fill every LoRA B matrix with seeded normal noise (PEFT initialises B to zero)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * std)


def build_mc_dataset(path: Path, n_docs: int = 24, n_choices: int = 4, seed: int = 0) -> Path:
    """Write a small multiple-choice jsonl: ``{id, question, choices, answer}`` per line."""
    rng = random.Random(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n_docs):
            question = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 12)))
            choices = [
                " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4)))
                for _ in range(n_choices)
            ]
            doc = {
                "id": f"mc-{i}",
                "question": question.capitalize() + "?",
                "choices": choices,
                "answer": rng.randrange(n_choices),
            }
            f.write(json.dumps(doc) + "\n")
    return path


@dataclass(frozen=True)
class TinyWorld:
    """Paths of one built test world."""

    root: Path
    tokenizer_dir: Path
    model_dir: Path
    lora_dir: Path
    mc_jsonl: Path


def build_world(root: Path) -> TinyWorld:
    """Build (or reuse, if complete) the whole test world under ``root``.

    A ``.complete`` marker is written last, so a world interrupted mid-build is rebuilt.
    """
    root = Path(root)
    world = TinyWorld(
        root=root,
        tokenizer_dir=root / "tokenizer",
        model_dir=root / "tiny-llama",
        lora_dir=root / "tiny-llama-lora",
        mc_jsonl=root / "data" / "mc.jsonl",
    )
    marker = root / ".complete"
    if marker.exists():
        return world
    build_tokenizer(world.tokenizer_dir)
    build_tiny_causal_lm(world.model_dir, world.tokenizer_dir)
    build_lora_adapter(world.model_dir, world.lora_dir)
    build_mc_dataset(world.mc_jsonl)
    marker.write_text("ok\n")
    return world
