"""MGM prompts: its conversation templates and its ``<image>`` tokenisation rule.

Templates (``gemma``, ``vicuna_v1``, ``llama_3``) render exactly the strings of MGM's
``conversation.py`` (``Conversation.get_prompt`` with separator styles GEMMA, TWO, LLAMA_3),
including MGM's ``llama_3`` quirk of opening the assistant turn with a *system* header.

Tokenisation (MGM's ``tokenizer_image_token``): the prompt is split on ``<image>``, each chunk is
tokenised on its own, one BOS leads, and ``-200`` marks each image. With SentencePiece
tokenizers (Llama/Vicuna) this differs from tokenising the whole string: each chunk starts a
new word. A prompt that already starts with the BOS text (a rendered chat template) gets no
second BOS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lm_eval_ext.errors import ModelArgsError
from lm_eval_ext.models.mgm.modeling import IMAGE_TOKEN_INDEX

IMAGE_PLACEHOLDER = "<image>"
IM_START, IM_END = "<im_start>", "<im_end>"

_VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
_LLAMA3_SYSTEM_HEADER = "<|start_header_id|>system<|end_header_id|>\n\n"
_LLAMA3_SYSTEM = (
    "You are a helpful language and vision assistant. "
    "You are able to understand the visual content that the user provides, "
    "and assist the user with a variety of tasks using natural language."
)


@dataclass(frozen=True)
class Template:
    """One MGM conversation template (system text, roles, separators, separator style)."""

    name: str
    system: str
    roles: tuple[str, str]
    style: str
    seps: tuple[str, str]

    def render(self, turns: list[tuple[int, str | None]], system: str | None = None) -> str:
        """The prompt for ``turns`` (``(0 user | 1 assistant, text or None)``), as MGM renders it.

        A final ``None`` text opens that role's turn for the model to continue.
        """
        system = self.system if system is None else self._system_text(system)
        if self.style == "gemma":
            out = system + self.seps[0]
            for i, (role, text) in enumerate(turns):
                head = "<start_of_turn>" + self.roles[role] + "\n"
                out += head if text is None else f"{head}{text}<end_of_turn>\n{self.seps[i % 2]}"
            return out
        if self.style == "two":
            out = system + self.seps[0]
            for i, (role, text) in enumerate(turns):
                name = self.roles[role]
                out += name + ":" if text is None else f"{name}: {text}{self.seps[i % 2]}"
            return out
        out = system + self.seps[0]  # llama_3
        for role, text in turns:
            out += self.roles[role] + ("" if text is None else text + self.seps[0])
        return out

    def _system_text(self, text: str) -> str:
        return _LLAMA3_SYSTEM_HEADER + text if self.style == "llama_3" else text


TEMPLATES = {
    "gemma": Template("gemma", "", ("user", "model"), "gemma", ("", "<eos>")),
    "vicuna_v1": Template("vicuna_v1", _VICUNA_SYSTEM, ("USER", "ASSISTANT"), "two", (" ", "</s>")),
    "llama_3": Template(
        "llama_3",
        _LLAMA3_SYSTEM_HEADER + _LLAMA3_SYSTEM,
        ("<|start_header_id|>user<|end_header_id|>\n\n", _LLAMA3_SYSTEM_HEADER),
        "llama_3",
        ("<|eot_id|>", "<|eot_id|>"),
    ),
}
#: ``conv_template=tokenizer``: the tokenizer's own chat template instead of MGM's.
TOKENIZER_TEMPLATE = "tokenizer"


def default_template(family: str, tokenizer: Any) -> str:
    """MGM's template for a language model: Gemma -> gemma, Llama-3 -> llama_3, else vicuna_v1."""
    if family == "gemma":
        return "gemma"
    if "<|eot_id|>" in tokenizer.get_vocab():
        return "llama_3"
    return "vicuna_v1"


def check_template(name: str) -> str:
    """``conv_template=`` value check."""
    if name != TOKENIZER_TEMPLATE and name not in TEMPLATES:
        raise ModelArgsError(
            f"conv_template={name!r}: expected one of {sorted(TEMPLATES)} or "
            f"{TOKENIZER_TEMPLATE!r} (the tokenizer's own chat template)"
        )
    return name


def render_chat(template: Template, messages: list[dict[str, str]], continue_last: bool) -> str:
    """Render lm-eval's chat history (``role``/``content`` dicts) with an MGM template.

    A system message replaces the template's system prompt (Gemma has none: it is put before
    the first user message). ``continue_last`` leaves the last (assistant) message open.
    """
    system = None
    turns: list[tuple[int, str | None]] = []
    for msg in messages:
        if msg["role"] == "system":
            system = msg["content"]
        else:
            turns.append((0 if msg["role"] == "user" else 1, msg["content"]))
    if system is not None and template.style == "gemma" and turns:
        turns[0] = (turns[0][0], f"{system}\n\n{turns[0][1]}")
        system = None
    if continue_last:
        role, text = turns.pop()
        return template.render([*turns, (role, None)], system) + (text or "")
    return template.render([*turns, (1, None)], system)


def adds_bos(tokenizer: Any) -> bool:
    """Whether the tokenizer puts BOS before a text (as Llama's and Gemma's do)."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a").input_ids[:1] == [bos]


def tokenize_with_images(tokenizer: Any, text: str, *, im_start_end: bool = False) -> list[int]:
    """MGM's ids for ``text``: chunks between ``<image>`` tokenised apart, -200 for each image."""
    bos_text = tokenizer.bos_token
    if bos_text and text.startswith(bos_text):
        text = text[len(bos_text) :]
    if im_start_end:
        text = text.replace(IMAGE_PLACEHOLDER, IM_START + IMAGE_PLACEHOLDER + IM_END)
    ids = [tokenizer.bos_token_id] if adds_bos(tokenizer) else []
    for i, chunk in enumerate(text.split(IMAGE_PLACEHOLDER)):
        if i:
            ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(tokenizer(chunk, add_special_tokens=False).input_ids)
    return ids
