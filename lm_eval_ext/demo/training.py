"""A genuinely trained tiny run for the sweep demo: ``checkpoint-*`` dirs and LoRA adapters.

:func:`train_run` trains a tiny Llama from scratch on the synthetic task of
:mod:`lm_eval_ext.demo.learning_task` (next-token loss on question and answer, as in
pre-training) and saves ``checkpoint-<step>`` directories the way transformers' ``Trainer``
names them, ``checkpoint-0`` (the untrained model, at chance) included. :func:`train_lora`
fine-tunes a PEFT LoRA adapter on the last checkpoint with the keywords the run never saw
(mixed with the old ones, so nothing is forgotten) and saves ``checkpoint-<step>`` adapters.
Everything is seeded and runs on CPU in seconds to a minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from lm_eval_ext.demo.learning_task import answer_text, prompt_text, tokenizer_corpus, train_docs
from lm_eval_ext.demo.tiny_world import build_tokenizer

__all__ = ["TrainedWorld", "TrainingPlan", "build_trained_world", "train_lora", "train_run"]


@dataclass(frozen=True)
class TrainingPlan:
    """How long and how hard to train (defaults: the demo's; tests use shorter plans)."""

    steps: int = 250
    save_every: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    lora_steps: int = 120  # 0: no adapter
    lora_save_every: int = 40
    lora_lr: float = 5e-3
    lora_rank: int = 8
    seed: int = 0


@dataclass(frozen=True)
class TrainedWorld:
    """Paths of a built trained world."""

    root: Path
    run_dir: Path  # holds checkpoint-0 .. checkpoint-<steps>
    lora_dir: Path  # holds the adapters' checkpoint-<step>
    checkpoints: list[Path] = field(default_factory=list)
    adapters: list[Path] = field(default_factory=list)


def _batch(tokenizer, docs: list[dict]):
    """Token ids, attention mask and labels (padding ignored) of question + answer + EOS."""
    texts = [prompt_text(d) + answer_text(d) + tokenizer.eos_token for d in docs]
    enc = tokenizer(texts, return_tensors="pt", padding=True)
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100
    return enc["input_ids"], enc["attention_mask"], labels


def _train_loop(
    model, tokenizer, docs: list[dict], plan_steps: int, lr: float, batch: int, on_save
):
    """AdamW over ``docs`` in order (cycled); ``on_save(step)`` decides and does the saving."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    model.train()
    on_save(0)
    for step in tqdm(
        range(1, plan_steps + 1), desc="training", unit="step", leave=False, disable=None
    ):
        start = (step * batch) % len(docs)
        ids, mask, labels = _batch(tokenizer, docs[start : start + batch])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        on_save(step)
    model.eval()


def train_run(
    out_dir: Path, tokenizer_dir: Path, plan: TrainingPlan = TrainingPlan()
) -> list[Path]:
    """Train a tiny Llama from scratch, saving ``out_dir/checkpoint-<step>`` every few steps."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        dtype="float32",
    )
    torch.manual_seed(plan.seed)
    model = LlamaForCausalLM(config)
    saved: list[Path] = []

    def save(step: int) -> None:
        if step % plan.save_every == 0 or step == plan.steps:
            path = Path(out_dir) / f"checkpoint-{step}"
            model.save_pretrained(path, safe_serialization=True)
            tokenizer.save_pretrained(path)
            saved.append(path)

    _train_loop(model, tokenizer, train_docs("seen"), plan.steps, plan.lr, plan.batch_size, save)
    return saved


def train_lora(base_dir: Path, out_dir: Path, plan: TrainingPlan = TrainingPlan()) -> list[Path]:
    """Fine-tune a LoRA adapter on ``base_dir`` with the new keywords (old ones mixed in)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    torch.manual_seed(plan.seed + 1)
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    config = LoraConfig(
        r=plan.lora_rank,
        lora_alpha=2 * plan.lora_rank,
        lora_dropout=0.0,
        target_modules=modules,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, config)
    mixed = [d for pair in zip(train_docs("seen"), train_docs("new"), strict=True) for d in pair]
    saved: list[Path] = []

    def save(step: int) -> None:
        if step and (step % plan.lora_save_every == 0 or step == plan.lora_steps):
            path = Path(out_dir) / f"checkpoint-{step}"
            model.save_pretrained(path, safe_serialization=True)
            saved.append(path)

    _train_loop(model, tokenizer, mixed, plan.lora_steps, plan.lora_lr, plan.batch_size, save)
    return saved


def build_trained_world(root: Path, plan: TrainingPlan = TrainingPlan()) -> TrainedWorld:
    """Tokenizer, the trained run's checkpoints and the LoRA adapters under ``root`` (reused).

    A ``.complete`` marker is written last, so an interrupted build is redone.
    """
    root = Path(root)
    run_dir, lora_dir = root / "tiny-run", root / "lora"

    def listed(folder: Path) -> list[Path]:
        found = [p for p in folder.glob("checkpoint-*") if p.is_dir()]
        return sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[1]))

    if not (root / ".complete").exists():
        tokenizer_dir = build_tokenizer(
            root / "tokenizer", vocab_size=600, lines=tokenizer_corpus()
        )
        checkpoints = train_run(run_dir, tokenizer_dir, plan)
        if plan.lora_steps:
            train_lora(checkpoints[-1], lora_dir, plan)
        (root / ".complete").write_text("ok\n")
    return TrainedWorld(root, run_dir, lora_dir, listed(run_dir), listed(lora_dir))
