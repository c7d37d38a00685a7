"""The demo's synthetic task and its genuinely trained run (held-out accuracy rises)."""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from lm_eval_ext.demo.learning_task import (
    KINDS,
    PROMPT,
    answer_text,
    heldout_docs,
    prompt_text,
    train_docs,
)
from tests.conftest import TASKS_DIR


def test_heldout_splits_share_no_sentence_with_training():
    for vocabulary in ("seen", "new"):
        train = {d["sentence"] for d in train_docs(vocabulary)}
        heldout = heldout_docs(vocabulary)
        assert len(heldout) == 200
        assert not train & {d["sentence"] for d in heldout}
        assert heldout == heldout_docs(vocabulary)  # deterministic
        assert {d["answer"] for d in heldout} == set(range(len(KINDS)))


def test_new_keywords_never_appear_in_the_base_training_data():
    new_words = {w for d in heldout_docs("new") for w in d["sentence"].split()}
    seen_words = {w for d in train_docs("seen") for w in d["sentence"].split()}
    keywords = new_words - seen_words
    assert len(keywords) == 16  # every new keyword, and only those
    assert prompt_text(heldout_docs()[0]).startswith("Which kind of word is in: ")
    assert answer_text({"answer": 2}) == " number"


def _loader(name: str):
    spec = importlib.util.spec_from_file_location("demo_utils", TASKS_DIR / "demo" / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


@pytest.mark.parametrize(
    ("task", "loader", "vocabulary"),
    [
        ("demo_kind", "load_seen", "seen"),
        ("demo_kind_new", "load_new", "new"),
    ],
)
def test_task_yaml_prompts_exactly_as_training_did(task, loader, vocabulary):
    text = (TASKS_DIR / "demo" / f"{task}.yaml").read_text()
    config = yaml.safe_load(text.replace("!function ", ""))
    assert config["task"] == task
    assert config["doc_to_text"] == PROMPT.replace("{sentence}", "{{sentence}}")
    data = _loader(loader)()
    assert [dict(d) for d in data["test"]] == heldout_docs(vocabulary)


def _heldout_accuracy(checkpoint, docs, adapter=None) -> float:
    """Share of docs whose answer token is the most likely of the four kinds."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    kind_ids = [tokenizer(" " + k)["input_ids"] for k in KINDS]
    assert all(len(ids) == 1 for ids in kind_ids)  # one token each: one forward pass scores all
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    enc = tokenizer([prompt_text(d) for d in docs], return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**enc).logits
    last = enc["attention_mask"].sum(1) - 1
    scores = logits[torch.arange(len(docs)), last][:, [ids[0] for ids in kind_ids]]
    return (scores.argmax(1) == torch.tensor([d["answer"] for d in docs])).float().mean().item()


def test_trained_run_learns_the_heldout_task(trained_world):
    assert [p.name for p in trained_world.checkpoints] == [
        "checkpoint-0",
        "checkpoint-40",
        "checkpoint-80",
        "checkpoint-120",
    ]
    assert [p.name for p in trained_world.adapters] == ["checkpoint-15", "checkpoint-30"]
    config = json.loads((trained_world.adapters[-1] / "adapter_config.json").read_text())
    assert config["r"] == 8
    first, last = trained_world.checkpoints[0], trained_world.checkpoints[-1]
    assert _heldout_accuracy(first, heldout_docs()) < 0.35  # chance: 0.25
    assert _heldout_accuracy(last, heldout_docs()) > 0.8
    # the base run never saw the new keywords; the LoRA fine-tune does
    base_new = _heldout_accuracy(last, heldout_docs("new"))
    lora_new = _heldout_accuracy(last, heldout_docs("new"), trained_world.adapters[-1])
    assert base_new < 0.4
    assert lora_new > base_new + 0.1
