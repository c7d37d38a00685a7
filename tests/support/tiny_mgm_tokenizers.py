"""Tiny offline tokenizers shaped like MGM's: Gemma-like and Llama/Vicuna-like (SentencePiece).

Both put BOS before every text, as Gemma's and Llama's do. The Llama-like one uses Metaspace
with ``prepend_scheme="first"`` (what HF's Llama tokenizer does): each separately tokenised chunk
starts a new word (``▁``), so MGM's chunk-wise ``<image>`` tokenisation differs from tokenising
the whole string, as it does with real Llama tokenizers.
"""

from __future__ import annotations

import json
from pathlib import Path

from lm_eval_ext.demo.tiny_world import corpus_lines

#: Gemma's chat template (the shape of google/gemma-2b-it's), for ``conv_template=tokenizer``.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)
_EXTRA_LINES = [
    "What color is the background?\nAnswer with the option's letter from the given choices "
    "directly.\nA. red\nB. blue\nC. green\nD. yellow",
    "USER: ASSISTANT: user\nmodel\n Reference OCR token: STOP, 12\nAnswer:",
] * 50


def _portable(out_dir: Path, extra_special: list[str]) -> None:
    """Write the files so that transformers 4.x/tokenizers 0.15 read them too (the parity bench
    loads them with the releases MGM pins): class name, merges as strings, no newer fields."""
    tok_file = out_dir / "tokenizer.json"
    data = json.loads(tok_file.read_text())
    data["model"]["merges"] = [
        " ".join(m) if isinstance(m, list) else m for m in data["model"]["merges"]
    ]
    data["model"].pop("ignore_merges", None)
    for part in ("pre_tokenizer", "decoder"):
        if (data.get(part) or {}).get("type") == "Metaspace":
            data[part].pop("split", None)
            data[part]["add_prefix_space"] = True  # tokenizers < 0.19 requires it
    tok_file.write_text(json.dumps(data, ensure_ascii=False))
    file = out_dir / "tokenizer_config.json"
    config = json.loads(file.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    if extra_special:
        config["additional_special_tokens"] = extra_special
    file.write_text(json.dumps(config, indent=2))


def _train(tok, special: list[str], vocab_size: int, alphabet: list[str] | None = None) -> None:
    from tokenizers import trainers

    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=alphabet or [],
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines() + _EXTRA_LINES, trainer=trainer)


def build_gemma_like_tokenizer(out_dir: Path, vocab_size: int = 600) -> Path:
    """Byte-level BPE, ``<bos>`` added, ``<eos>``/``<pad>``, Gemma's turn markers, chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    _train(tok, special, vocab_size, pre_tokenizers.ByteLevel.alphabet())
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>"],
        model_max_length=100_000,
    )
    fast.chat_template = GEMMA_CHAT_TEMPLATE
    out_dir = Path(out_dir)
    fast.save_pretrained(out_dir)
    _portable(out_dir, ["<start_of_turn>", "<end_of_turn>"])
    return out_dir


def build_llama_like_tokenizer(out_dir: Path, vocab_size: int = 600) -> Path:
    """SentencePiece-style BPE (Metaspace, prefix on the first word), ``<s>`` added, no template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = ["<unk>", "<s>", "</s>", "<pad>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    _train(tok, special, vocab_size)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=100_000,
    )
    out_dir = Path(out_dir)
    fast.save_pretrained(out_dir)
    _portable(out_dir, [])
    return out_dir
