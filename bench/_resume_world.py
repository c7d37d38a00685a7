"""The offline workload of ``bench/resume.py``: a few-million-parameter Llama + LoRA, and a
generated multiple-choice task (plus a small generate_until share) as local jsonl + task YAML.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

MC_TASK = "bench_resume_mc"
GEN_TASK = "bench_resume_gen"

_MC_YAML = """\
task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}\\nQuestion: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
  - metric: acc_norm
metadata:
  version: 1.0
"""

_GEN_YAML = """\
task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{context}}}}\\nQuestion: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{choices[answer]}}}}"
generation_kwargs:
  until: ["\\n"]
  do_sample: false
  max_gen_toks: {max_gen_toks}
metric_list:
  - metric: exact_match
metadata:
  version: 1.0
"""


@dataclass(frozen=True)
class BenchWorld:
    """Paths and sizes of the built benchmark world."""

    model_dir: Path
    lora_dir: Path
    tasks_dir: Path
    n_params: int
    mc_docs: int
    gen_docs: int
    mean_context_tokens: float


def _write_docs(path: Path, n_docs: int, n_words: tuple[int, int], seed: int) -> list[str]:
    """Write ``n_docs`` 4-choice docs as jsonl; returns their contexts (for token counts)."""
    from lm_eval_ext.demo.tiny_world import corpus_lines

    rng = random.Random(seed)
    words = " ".join(corpus_lines(3000, seed=seed)).split()
    contexts = []
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n_docs):
            start = rng.randrange(len(words) - 200)
            context = " ".join(words[start : start + rng.randint(*n_words)])
            choices = [" ".join(rng.sample(words, rng.randint(1, 6))) for _ in range(4)]
            question = " ".join(rng.sample(words, rng.randint(4, 10))) + "?"
            doc = {
                "id": i,
                "context": context,
                "question": question,
                "choices": choices,
                "answer": rng.randrange(4),
            }
            fh.write(json.dumps(doc) + "\n")
            contexts.append(f"{context}\nQuestion: {question}\nAnswer:")
    return contexts


def build_bench_world(
    root: Path,
    mc_docs: int,
    gen_docs: int,
    max_gen_toks: int = 16,
    hidden: int = 320,
    layers: int = 4,
) -> BenchWorld:
    """Tokenizer, ``hidden``x``layers`` Llama with a LoRA adapter, data and task YAMLs."""
    from transformers import AutoTokenizer

    from lm_eval_ext.demo.tiny_world import (
        build_lora_adapter,
        build_tiny_causal_lm,
        build_tokenizer,
    )

    tok_dir = build_tokenizer(root / "tokenizer")
    model_dir = build_tiny_causal_lm(
        root / "model",
        tok_dir,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=4,
        intermediate_size=4 * hidden,
        max_position_embeddings=1024,
    )
    lora_dir = build_lora_adapter(model_dir, root / "lora", r=8, alpha=16, b_std=0.05)
    tasks_dir = root / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    contexts = _write_docs(tasks_dir / "mc.jsonl", mc_docs, (25, 50), seed=11)
    _write_docs(tasks_dir / "gen.jsonl", gen_docs, (25, 50), seed=12)
    (tasks_dir / f"{MC_TASK}.yaml").write_text(
        _MC_YAML.format(task=MC_TASK, data=tasks_dir / "mc.jsonl")
    )
    (tasks_dir / f"{GEN_TASK}.yaml").write_text(
        _GEN_YAML.format(task=GEN_TASK, data=tasks_dir / "gen.jsonl", max_gen_toks=max_gen_toks)
    )
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    lengths = [len(ids) for ids in tokenizer(contexts)["input_ids"]]
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), "pt") as fh:
        n_params = sum(_prod(fh.get_slice(k).get_shape()) for k in fh.keys())  # noqa: SIM118 - safetensors handles are not dicts
    return BenchWorld(
        model_dir,
        lora_dir,
        tasks_dir,
        n_params,
        mc_docs,
        gen_docs,
        sum(lengths) / max(1, len(lengths)),
    )


def _prod(shape: list[int]) -> int:
    out = 1
    for dim in shape:
        out *= dim
    return out
