"""A copy of the tiny world's model whose tokenizer has a chat template."""

from __future__ import annotations

import shutil
from pathlib import Path

#: A minimal chat template with a system turn: enough for lm-eval's --apply_chat_template,
#: --system_instruction and --fewshot_as_multiturn to shape prompts differently.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|endoftext|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def model_with_chat_template(model_dir: Path, out_dir: Path) -> Path:
    """``model_dir`` copied to ``out_dir`` with :data:`CHAT_TEMPLATE` in its tokenizer."""
    from transformers import AutoTokenizer

    if not (out_dir / "config.json").is_file():
        shutil.copytree(model_dir, out_dir, dirs_exist_ok=True)
        tokenizer = AutoTokenizer.from_pretrained(out_dir)
        tokenizer.chat_template = CHAT_TEMPLATE
        tokenizer.save_pretrained(out_dir)
    return out_dir
