"""Benchmark: context-once MC scoring (``mgm_lora``) vs lm-eval's ``hf``, side by side.

Builds (under a temp dir) a random-weight Llama of a few million parameters and a task
of 4-choice items with ~100-token contexts and ~20-token endings, then runs the same
task in-process with ``simple_evaluate`` on ``--model hf`` and on ``--model mgm_lora``
(no adapter: the same weights), counting the tokens fed to the model's forward and the
wall-clock of each evaluation. Prints both, their ratios, and checks the scores agree.

    python bench/mc_prefix.py            # a few minutes on one CPU thread
    python bench/mc_prefix.py --items 64 --hidden 128 --layers 2   # quick smoke run
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

TASK = "mc_prefix_bench"


def build_items(
    tokenizer: Any, n_items: int, ctx_tokens: int, end_tokens: int, seed: int = 0
) -> list[dict]:
    """4-choice items whose context / endings are about the requested token lengths."""
    from lm_eval_ext.demo.tiny_world import corpus_lines

    rng = random.Random(seed)
    lines = corpus_lines(n_lines=4000, seed=seed)

    def text_of(n_tokens: int) -> str:
        ids: list[int] = []
        while len(ids) < n_tokens:
            ids += tokenizer.encode(" " + rng.choice(lines), add_special_tokens=False)
        return tokenizer.decode(ids[:n_tokens]).strip()

    return [
        {
            "context": text_of(ctx_tokens) + "\nAnswer:",
            "endings": [text_of(end_tokens) for _ in range(4)],
            "label": rng.randrange(4),
        }
        for _ in range(n_items)
    ]


def write_task(root: Path, items: list[dict]) -> Path:
    """The jsonl data and a task YAML using our task class (no PMI requests)."""
    data = root / "items.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in items))
    tasks = root / "tasks"
    tasks.mkdir()
    (tasks / f"{TASK}.yaml").write_text(
        f"task: {TASK}\n"
        "class: !function lm_eval_ext.scoring.mc_task.NormalizedMCTask\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n  cache_dir: {root / 'hf_cache'}\n"
        "output_type: multiple_choice\ntest_split: test\n"
        'doc_to_text: "{{context}}"\ndoc_to_choice: endings\ndoc_to_target: label\n'
        "metric_list:\n"
        + "".join(
            f"  - metric: {m}\n    aggregation: mean\n    higher_is_better: true\n"
            for m in ("acc", "acc_norm", "acc_norm_token")
        )
    )
    return tasks


class ForwardCounter:
    """Counts the token positions (padding included) of every forward of a model."""

    def __init__(self, model: Any) -> None:
        self.tokens = 0
        self.calls = 0
        self._handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: Any, args: tuple, kwargs: dict) -> None:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        self.tokens += int(input_ids.numel())
        self.calls += 1

    def close(self) -> None:
        """Remove the hook."""
        self._handle.remove()


def evaluate(
    lm: Any, tasks_dir: Path, model_dir: Path
) -> tuple[dict, tuple[float, float], ForwardCounter]:
    """Run the bench task on ``lm``; return (outputs, (wall s, CPU s), forward counter)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(
        include_path=str(tasks_dir), include_defaults=False, metadata={"pretrained": str(model_dir)}
    )
    counter = ForwardCounter(lm.model)
    start, cpu_start = time.perf_counter(), time.process_time()
    out = lm_eval.simple_evaluate(
        model=lm, tasks=[TASK], task_manager=manager, log_samples=True, bootstrap_iters=0
    )
    seconds = (time.perf_counter() - start, time.process_time() - cpu_start)
    counter.close()
    return out, seconds, counter


def compare_scores(a: dict, b: dict) -> tuple[float, float, bool, dict]:
    """Max |Δ logprob| and max |Δ|/|logprob| over all requests, per-doc agreement, aggregates."""
    sa = sorted(a["samples"][TASK], key=lambda s: s["doc_id"])
    sb = sorted(b["samples"][TASK], key=lambda s: s["doc_id"])
    diff, rel, same = 0.0, 0.0, True
    for x, y in zip(sa, sb, strict=True):
        for rx, ry in zip(x["resps"], y["resps"], strict=True):
            lp_x, lp_y = float(rx[0][0]), float(ry[0][0])
            diff = max(diff, abs(lp_x - lp_y))
            rel = max(rel, abs(lp_x - lp_y) / max(abs(lp_x), 1.0))
        same &= all(x[m] == y[m] for m in ("acc", "acc_norm", "acc_norm_token"))
    metrics = {
        m: (a["results"][TASK][f"{m},none"], b["results"][TASK][f"{m},none"])
        for m in ("acc", "acc_norm", "acc_norm_token")
    }
    return diff, rel, same, metrics


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=400)
    p.add_argument("--ctx-tokens", type=int, default=100)
    p.add_argument("--end-tokens", type=int, default=20)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    # One thread by default: on a small shared machine, multi-threaded timings measure the
    # other processes' load (every parallel region waits for a descheduled thread).
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch default)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the world, run both models, print the comparison; exit 1 if scores differ."""
    import torch
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    from lm_eval_ext.demo.tiny_world import build_tiny_causal_lm, build_tokenizer
    from lm_eval_ext.models.mgm_lora import MGMLoRALM

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="mc_prefix_bench_") as tmp:
        root = Path(tmp)
        tok_dir = build_tokenizer(root / "tokenizer")
        model_dir = build_tiny_causal_lm(
            root / "model",
            tok_dir,
            hidden_size=args.hidden,
            num_layers=args.layers,
            intermediate_size=4 * args.hidden,
            max_position_embeddings=512,
        )
        items = build_items(
            AutoTokenizer.from_pretrained(tok_dir), args.items, args.ctx_tokens, args.end_tokens
        )
        tasks_dir = write_task(root, items)
        common = {
            "pretrained": str(model_dir),
            "dtype": "float32",
            "device": "cpu",
            "batch_size": args.batch_size,
        }
        hf, ours = HFLM(**common), MGMLoRALM(**common)
        n_params = sum(p.numel() for p in hf.model.parameters())
        out_hf, t_hf, c_hf = evaluate(hf, tasks_dir, model_dir)
        out_ours, t_ours, c_ours = evaluate(ours, tasks_dir, model_dir)
    diff, rel, same, metrics = compare_scores(out_hf, out_ours)
    print(
        f"model: Llama {n_params / 1e6:.2f}M params, float32, CPU threads "
        f"{torch.get_num_threads()}; {args.items} items x 4 choices, "
        f"~{args.ctx_tokens}-token contexts, ~{args.end_tokens}-token endings, "
        f"batch_size {args.batch_size}"
    )
    for name, c, (wall, cpu) in (("hf", c_hf, t_hf), ("mgm_lora", c_ours, t_ours)):
        print(
            f"{name:>9}: {c.tokens:>9} forward tokens ({c.tokens / args.items:6.1f}/item) "
            f"in {c.calls:>4} forward calls, wall {wall:7.2f} s, CPU {cpu:7.2f} s"
        )
    print(
        f"    ratio: {c_hf.tokens / c_ours.tokens:.2f}x fewer forward tokens, "
        f"{t_hf[0] / t_ours[0]:.2f}x faster wall-clock, {t_hf[1] / t_ours[1]:.2f}x less CPU "
        "time (hf / mgm_lora)"
    )
    print(
        f"   scores: max |delta logprob| {diff:.2e} (relative {rel:.1e}); per-doc metrics "
        f"identical: {same}; "
        + ", ".join(f"{m} {a:.4f} vs {b:.4f}" for m, (a, b) in metrics.items())
    )
    # float32 sums of ~20 token log-probs of a peaked random model reach |lp| ~ 300:
    # agreement is judged relative to the magnitude (the unit tests use abs < 1e-4).
    return 0 if same and rel < 1e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
