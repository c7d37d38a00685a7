"""Our MGM port against MGM's own code: per-request loglikelihoods on the same tiny checkpoint.

    PYTHONPATH=. .venv/bin/python bench/mgm_parity.py --mgm-src /tmp/MGM [--create-venv]

``--mgm-src`` is an MGM source checkout (github.com/dvlab-research/MGM; never part of this repo).
A throwaway venv (default /tmp/mgm-bench-venv) gets only PyPI packages: transformers 4.38.2 (the
first release with Gemma, which MGM-2B needs; MGM pins 4.36.2 for its Llama models),
tokenizers 0.15.2, peft 0.4.0 and accelerate 0.21.0 (MGM's/LLaVA's pins), timm 0.9.16 (MGM's
pin, installed without torchvision), and the local torch 2.13 CPU wheel. MGM's checkout goes on
PYTHONPATH, with stand-ins for torchvision/open_clip/deepspeed (``bench/_mgm_stubs.py``).

Compared, in float32: the tiny MGM-Gemma (sharded, with index) + its LoRA training output
(LoRA + ``non_lora_trainables.bin``; ours: ``mgm_lora`` with ``lora=``; MGM: its builder +
LLaVA's LoRA recipe), and the tiny MGM-Llama base. Same prompts (raw, and rendered with
MGM's conversation template), same PNG images; each side tokenises and preprocesses itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._mgm_stubs import write_stubs  # noqa: E402
from tests.support.mgm_world import build_mgm_world  # noqa: E402
from tests.support.tiny_mgm_world import CONVNEXT_DEPTHS, CONVNEXT_WIDTHS  # noqa: E402

PINS = [
    "transformers==4.38.2",
    "tokenizers==0.15.2",
    "peft==0.4.0",
    "accelerate==0.21.0",
    "huggingface_hub<0.26",
    "numpy<2",
    "safetensors",
    "pillow",
]
TORCH_WHEEL = "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"

PROMPTS = [  # (context, continuation, image)
    ("<image>\nWhat color is the background?\nAnswer:", " red", 0),
    ("<image>\nWhat color is the background?\nAnswer:", " blue", 0),
    (
        "<image>\nIs there a square?\nA. yes\nB. no\nAnswer with the option's letter from the "
        "given choices directly.",
        "\nA",
        1,
    ),
    ("Look: <image>\nWhat is written on the sign?", " STOP 12", 2),
    (
        "<start_of_turn>user\n<image>\nWhat color is the background?<end_of_turn>\n"
        "<start_of_turn>model\n",
        "green",
        3,
    ),
    (
        "A chat between a curious user and an artificial intelligence assistant. The assistant "
        "gives helpful, detailed, and polite answers to the user's questions. USER: <image>\n"
        "Which color is used most? ASSISTANT:",
        " yellow",
        4,
    ),
]


def create_venv(venv: Path) -> None:
    """The throwaway venv, PyPI packages only (MGM's code is never installed)."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/pip"), "install", "-q"]
    subprocess.run([*pip, TORCH_WHEEL, "numpy<2"], check=True)
    subprocess.run([*pip, *PINS], check=True)
    subprocess.run([*pip, "--no-deps", "timm==0.9.16"], check=True)


def indexed_copy(src: Path, dst: Path) -> Path:
    """A safetensors + index copy (MGM's builder reads the vlm_uni weights through the index)."""
    import torch

    if (dst / "model.safetensors.index.json").is_file():
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    tensors = torch.load(src / "pytorch_model.bin")
    save_file(tensors, str(dst / "model-00001-of-00001.safetensors"), metadata={"format": "pt"})
    index = {
        "metadata": {},
        "weight_map": dict.fromkeys(tensors, "model-00001-of-00001.safetensors"),
    }
    (dst / "model.safetensors.index.json").write_text(json.dumps(index))
    for file in src.iterdir():
        if file.name != "pytorch_model.bin":
            (dst / file.name).write_bytes(file.read_bytes())
    return dst


def ours(path: Path, lora: Path | None, requests: list[dict]) -> list[dict]:
    """Per-request ids and loglikelihoods from ``mgm_lora`` (the real lm-eval wrapper)."""
    from lm_eval.api.instance import Instance
    from PIL import Image

    from lm_eval_ext.models.mgm.lm import MGMLM

    lm = MGMLM(
        pretrained=str(path),
        lora=str(lora) if lora else None,
        device="cpu",
        dtype="float32",
        batch_size=3,
    )
    args = [
        (r["context"], r["continuation"], {"visual": [Image.open(r["image"])]}) for r in requests
    ]
    lls = lm.loglikelihood(
        [Instance("loglikelihood", {}, a, i) for i, a in enumerate(args)], disable_tqdm=True
    )
    ids = [lm._encode(a) for a in args]
    return [
        {"ids": e.context + e.continuation, "ll": ll} for e, (ll, _) in zip(ids, lls, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mgm-src", required=True, type=Path, help="MGM source checkout")
    parser.add_argument("--venv", type=Path, default=Path("/tmp/mgm-bench-venv"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/mgm-parity"))
    parser.add_argument("--create-venv", action="store_true")
    args = parser.parse_args()
    if args.create_venv or not (args.venv / "bin/python").exists():
        create_venv(args.venv)
    world = build_mgm_world(args.work / "world")
    images = [str(world.data_dir / f"images/img{i}.png") for i in range(5)]
    requests = [{"context": c, "continuation": x, "image": images[i]} for c, x, i in PROMPTS]
    specs = [
        {
            "name": "MGM-Gemma + LoRA + non_lora_trainables",
            "path": str(world.gemma_sharded_dir),
            "lora": str(world.lora_dir),
            "requests": requests,
        },
        {
            "name": "MGM-Llama (Vicuna template) base",
            "path": str(indexed_copy(world.llama_dir, args.work / "tiny-mgm-7b-indexed")),
            "lora": None,
            "requests": requests,
        },
    ]
    (args.work / "specs.json").write_text(json.dumps(specs))
    env = {
        **os.environ,
        "MGM_BENCH_CONVNEXT": json.dumps({"dims": CONVNEXT_WIDTHS, "depths": CONVNEXT_DEPTHS}),
        "PYTHONPATH": f"{args.mgm_src}:{write_stubs(args.work / 'stubs')}",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    proc = subprocess.run(
        [
            str(args.venv / "bin/python"),
            str(ROOT / "bench/_mgm_original.py"),
            str(args.work / "specs.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        sys.exit(f"MGM's side failed:\n{proc.stderr[-4000:]}")
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    version = subprocess.run(
        [
            str(args.venv / "bin/python"),
            "-c",
            "from importlib.metadata import version as v;"
            "print(v('transformers'), v('peft'), v('timm'))",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    print(
        f"MGM side: transformers {version[0]}, peft {version[1]}, timm {version[2]}; "
        "ours: transformers 5.24 (lm_eval_ext.models.mgm)"
    )
    worst = 0.0
    for spec, their in zip(specs, theirs, strict=True):
        mine = ours(Path(spec["path"]), spec["lora"] and Path(spec["lora"]), spec["requests"])
        print(f"\n{spec['name']}")
        if their and their[0].get("trainables_unexpected"):
            print(f"  MGM ignored trainables: {their[0]['trainables_unexpected']}")
        for i, (m, t) in enumerate(zip(mine, their, strict=True)):
            delta = abs(m["ll"] - t["ll"])
            worst = max(worst, delta)
            same = "same ids" if m["ids"] == t["ids"] else "IDS DIFFER"
            print(f"  request {i}: ours {m['ll']:.6f}  MGM {t['ll']:.6f}  |d| {delta:.2e}  {same}")
    print(f"\nmax |d loglikelihood| = {worst:.2e} ({'PASS' if worst < 1e-4 else 'FAIL'} at 1e-4)")


if __name__ == "__main__":
    main()
