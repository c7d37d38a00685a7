"""MGM's conversation templates and its <image> tokenisation rule."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from lm_eval_ext.errors import ModelArgsError
from lm_eval_ext.models.mgm.prompts import (
    TEMPLATES,
    check_template,
    render_chat,
    tokenize_with_images,
)

USER = [{"role": "user", "content": "<image>\nWhat is it?"}]


def test_templates_render_mgm_strings():
    """Expected strings written out from MGM's conversation.py (GEMMA, TWO, LLAMA_3 styles)."""
    assert render_chat(TEMPLATES["gemma"], USER, False) == (
        "<start_of_turn>user\n<image>\nWhat is it?<end_of_turn>\n<start_of_turn>model\n"
    )
    assert render_chat(TEMPLATES["vicuna_v1"], USER, False) == (
        "A chat between a curious user and an artificial intelligence assistant. The assistant "
        "gives helpful, detailed, and polite answers to the user's questions. USER: <image>\n"
        "What is it? ASSISTANT:"
    )
    assert render_chat(TEMPLATES["llama_3"], USER, False) == (
        "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful language and vision "
        "assistant. You are able to understand the visual content that the user provides, and "
        "assist the user with a variety of tasks using natural language.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n<image>\nWhat is it?<|eot_id|>"
        "<|start_header_id|>system<|end_header_id|>\n\n"
    )
    turns = [
        *USER,
        {"role": "assistant", "content": "A cat."},
        {"role": "user", "content": "Sure?"},
    ]
    assert render_chat(TEMPLATES["vicuna_v1"], turns, False).endswith(
        "USER: <image>\nWhat is it? ASSISTANT: A cat.</s>USER: Sure? ASSISTANT:"
    )
    assert render_chat(
        TEMPLATES["gemma"], [*USER, {"role": "assistant", "content": "A"}], True
    ) == ("<start_of_turn>user\n<image>\nWhat is it?<end_of_turn>\n<start_of_turn>model\nA")


def test_unknown_template_is_refused():
    with pytest.raises(ModelArgsError, match="conv_template='chatml'"):
        check_template("chatml")


def mgm_rule(tokenizer, prompt):
    """MGM's tokenizer_image_token, restated: chunks with specials, BOS of later chunks dropped."""
    chunks = [tokenizer(c).input_ids for c in prompt.split("<image>")]
    offset = int(bool(chunks[0]) and chunks[0][0] == tokenizer.bos_token_id)
    ids = [chunks[0][0]] if offset else []
    for i, chunk in enumerate(chunks):
        if i:
            ids.append(-200)
        ids.extend(chunk[offset:])
    return ids


@pytest.mark.parametrize("which", ["tokenizer-gemma", "tokenizer-llama"])
def test_tokenisation_follows_mgm_rule_with_one_bos(mgm_world, which):
    tok = AutoTokenizer.from_pretrained(mgm_world.root / which)
    prompt = "USER: <image>\nWhat color is the background? ASSISTANT:"
    ids = tokenize_with_images(tok, prompt)
    assert ids == mgm_rule(tok, prompt)
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
    assert ids.count(-200) == 1
    # a rendered chat template that starts with BOS gets no second one
    assert tokenize_with_images(tok, tok.bos_token + prompt) == ids


def test_llama_chunks_differ_from_the_whole_string(mgm_world):
    """SentencePiece starts each chunk as a new word: MGM's ids are not the whole string's."""
    tok = AutoTokenizer.from_pretrained(mgm_world.root / "tokenizer-llama")
    ids = tokenize_with_images(tok, "x<image>\nWhat color")
    after = ids[ids.index(-200) + 1 :]
    whole = tok("x<image>\nWhat color", add_special_tokens=False).input_ids
    assert after == tok("\nWhat color", add_special_tokens=False).input_ids
    assert tok.convert_ids_to_tokens(after)[0] == "▁"
    assert after != whole[-len(after) :]
