"""Point lm-eval's built-in MC tasks and our ``*_mcnorm`` tasks at the local fixtures.

Each fixture task is a two-key YAML: ``include:`` of the real task config, and the data
location overridden (``dataset_path: json`` + ``data_files``); nothing else changes.
"""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "mc"
OURS = REPO / "tasks" / "mc_norm"

#: benchmark -> (built-in YAML relative to lm_eval/tasks, our YAML, {split: fixture file})
BENCHMARKS: dict[str, tuple[str, str, dict[str, str]]] = {
    "hellaswag": (
        "hellaswag/hellaswag.yaml",
        "hellaswag/hellaswag_mcnorm.yaml",
        {"validation": "hellaswag/validation.jsonl"},
    ),
    "arc_easy": ("arc/arc_easy.yaml", "arc/arc_easy_mcnorm.yaml", {"test": "arc_easy/test.jsonl"}),
    "arc_challenge": (
        "arc/arc_challenge.yaml",
        "arc/arc_challenge_mcnorm.yaml",
        {"test": "arc_challenge/test.jsonl"},
    ),
    "piqa": ("piqa/piqa.yaml", "piqa/piqa_mcnorm.yaml", {"validation": "piqa/validation.jsonl"}),
    "winogrande": (
        "winogrande/default.yaml",
        "winogrande/winogrande_mcnorm.yaml",
        {"validation": "winogrande/validation.jsonl"},
    ),
    "openbookqa": (
        "openbookqa/openbookqa.yaml",
        "openbookqa/openbookqa_mcnorm.yaml",
        {"test": "openbookqa/test.jsonl"},
    ),
    "boolq": (
        "super_glue/boolq/default.yaml",
        "boolq/boolq_mcnorm.yaml",
        {"validation": "boolq/validation.jsonl"},
    ),
    "mmlu_anatomy": (
        "mmlu/default/mmlu_anatomy.yaml",
        "mmlu/mmlu_anatomy_mcnorm.yaml",
        {"test": "mmlu/anatomy/test.jsonl", "dev": "mmlu/anatomy/dev.jsonl"},
    ),
    "mmlu_abstract_algebra": (
        "mmlu/default/mmlu_abstract_algebra.yaml",
        "mmlu/mmlu_abstract_algebra_mcnorm.yaml",
        {"test": "mmlu/abstract_algebra/test.jsonl", "dev": "mmlu/abstract_algebra/dev.jsonl"},
    ),
}


def builtin_name(bench: str) -> str:
    """Name of the fixture copy of lm-eval's built-in task."""
    return f"fx_{bench}_builtin"


def ours_name(bench: str) -> str:
    """Name of the fixture copy of our ``*_mcnorm`` task."""
    return f"fx_{bench}_mcnorm"


def write_fixture_tasks(out_dir: Path, cache_dir: Path) -> list[str]:
    """Write both fixture YAMLs per benchmark into ``out_dir``; return all task names."""
    import lm_eval.tasks

    builtin_root = Path(lm_eval.tasks.__file__).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for bench, (builtin, ours, splits) in BENCHMARKS.items():
        data_files = {split: str(FIXTURES / rel) for split, rel in splits.items()}
        # Every split the config names must exist; the eval split's fixture stands in.
        eval_file = next(iter(data_files.values()))
        for split in ("train", "validation", "test"):
            data_files.setdefault(split, eval_file)
        override = {
            "dataset_path": "json",
            "dataset_name": None,
            "dataset_kwargs": {"data_files": data_files, "cache_dir": str(cache_dir)},
        }
        for name, source in (
            (builtin_name(bench), builtin_root / builtin),
            (ours_name(bench), OURS / ours),
        ):
            cfg = {"include": str(source), "task": name, "tag": [], **override}
            (out_dir / f"{name}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
            names.append(name)
    return names
