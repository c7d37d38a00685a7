"""Generate the shipped suite YAMLs from lm-eval's own task files (``python -m ...``).

The numbers each suite uses, and where they come from:

* ``open_llm_v2`` (Open LLM Leaderboard v2; its scores-normalisation page): lm-eval's
  ``leaderboard_*`` tasks. Per (sub)task ``max(0, (raw - b) / (1 - b)) * 100`` with
  ``b = 1 / choices``; BBH choices are the length of each task's ``doc_to_choice`` (so
  ``object_counting`` has 19), GPQA 4 (its ``doc_to_choice``), MMLU-Pro 10 (the leaderboard
  uses 10 although some questions have fewer), MuSR 2 / 5 / 3 (murder mysteries / object
  placements / team allocation, as the leaderboard's maintainers state), MATH-hard and IFEval
  are generative (``b = 0``). Subtasks are averaged unweighted; IFEval's score is the mean of
  prompt- and instance-level strict accuracy; the overall score is the mean of the six.
  n-shot as lm-eval's leaderboard tasks: BBH 3, GPQA 0, MMLU-Pro 5, MuSR 0, MATH 4, IFEval 0.
* ``babylm`` (BabyLM strict-small): every checkpoint revision ``chck_1M`` ... ``chck_10M``,
  ``chck_20M`` ... ``chck_100M`` present, each with lm-eval's 67 BLiMP tasks at exactly 1,000
  scored documents; raw accuracy (no normalisation).
* ``mc_norm``: our seven ``*_mcnorm`` benchmarks and ``mmlu_mcnorm`` (57 subjects, averaged by
  size as lm-eval's MMLU group), ``acc_norm_byte``, 0-shot, normalised against ``1 / choices``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lm_eval_ext._compat.lm_eval_tasks import builtin_task_files, mmlu_subject_table
from lm_eval_ext.submission.suites import SUITES_DIR

_LEADERBOARD = "https://huggingface.co/docs/leaderboards/open_llm_leaderboard/normalization"
_MUSR_CHOICES = {"murder_mysteries": 2, "object_placements": 5, "team_allocation": 3}
_MATH = (
    "algebra",
    "counting_and_prob",
    "geometry",
    "intermediate_algebra",
    "num_theory",
    "prealgebra",
    "precalculus",
)
BABYLM_CHECKPOINTS = [f"chck_{n}M" for n in range(1, 10)] + [
    f"chck_{n}M" for n in range(10, 101, 10)
]


def _choices(files: dict[str, dict], prefix: str) -> dict[str, dict[str, int]]:
    return {
        str(cfg["task"]): {"choices": len(cfg["doc_to_choice"])}
        for stem, cfg in files.items()
        if not stem.startswith("_") and cfg.get("task") and str(cfg["task"]).startswith(prefix)
    }


def open_llm_v2() -> dict[str, Any]:
    """The Open LLM Leaderboard v2 suite."""
    bbh = _choices(builtin_task_files("leaderboard/bbh_mc"), "leaderboard_bbh_")
    gpqa_choices = len(builtin_task_files("leaderboard/gpqa")["_template_yaml"]["doc_to_choice"])
    return {
        "name": "open_llm_v2",
        "description": "Open LLM Leaderboard v2: lm-eval's six leaderboard_* benchmarks",
        "source": _LEADERBOARD,
        "hub_model": True,
        "normalization": "random_baseline",
        "benchmarks": [
            {
                "name": "IFEval",
                "n_shot": 0,
                "metric": ["prompt_level_strict_acc", "inst_level_strict_acc"],
                "tasks": {"leaderboard_ifeval": {"choices": 0}},
            },
            {"name": "BBH", "n_shot": 3, "metric": "acc_norm", "tasks": bbh},
            {
                "name": "MATH Lvl 5",
                "n_shot": 4,
                "metric": "exact_match",
                "tasks": {f"leaderboard_math_{m}_hard": {"choices": 0} for m in _MATH},
            },
            {
                "name": "GPQA",
                "n_shot": 0,
                "metric": "acc_norm",
                "tasks": {
                    f"leaderboard_gpqa_{s}": {"choices": gpqa_choices}
                    for s in ("diamond", "extended", "main")
                },
            },
            {
                "name": "MuSR",
                "n_shot": 0,
                "metric": "acc_norm",
                "tasks": {
                    f"leaderboard_musr_{s}": {"choices": c} for s, c in _MUSR_CHOICES.items()
                },
            },
            {
                "name": "MMLU-PRO",
                "n_shot": 5,
                "metric": "acc",
                "tasks": {"leaderboard_mmlu_pro": {"choices": 10}},
            },
        ],
    }


def babylm() -> dict[str, Any]:
    """The BabyLM strict-small checkpoint suite (BLiMP at every checkpoint)."""
    blimp = {
        str(cfg["task"]): {}
        for stem, cfg in builtin_task_files("blimp").items()
        if not stem.startswith("_") and cfg.get("task")
    }
    return {
        "name": "babylm",
        "description": "BabyLM strict-small: BLiMP at every intermediate checkpoint revision",
        "source": "https://babylm.github.io/guidelines.html (checkpoint schedule); lm-eval blimp",
        "hub_model": True,
        "normalization": "none",
        "checkpoints": BABYLM_CHECKPOINTS,
        "benchmarks": [
            {
                "name": "BLiMP",
                "n_shot": 0,
                "metric": "acc",
                "aggregate": "unweighted",
                "tasks": {task: {"choices": 2, "docs": 1000} for task in sorted(blimp)},
            }
        ],
    }


def mc_norm() -> dict[str, Any]:
    """Our normalised multiple-choice benchmarks and MMLU (``*_mcnorm`` tasks)."""
    four, two = {"choices": 4}, {"choices": 2}
    singles = {
        "hellaswag_mcnorm": four,
        "arc_easy_mcnorm": four,
        "arc_challenge_mcnorm": four,
        "piqa_mcnorm": two,
        "winogrande_mcnorm": two,
        "openbookqa_mcnorm": four,
        "boolq_mcnorm": two,
    }
    benchmarks: list[dict[str, Any]] = [
        {
            "name": task.removesuffix("_mcnorm"),
            "n_shot": 0,
            "metric": "acc_norm_byte",
            "tasks": {task: spec},
        }
        for task, spec in singles.items()
    ]
    benchmarks.append(
        {
            "name": "mmlu",
            "n_shot": 0,
            "metric": "acc_norm_byte",
            "aggregate": "weighted",
            "tasks": {f"mmlu_{s}_mcnorm": four for s in sorted(mmlu_subject_table())},
        }
    )
    return {
        "name": "mc_norm",
        "description": "lm_eval_ext's normalised-MC tasks and MMLU",
        "source": "README: Normalised multiple-choice metrics",
        "hub_model": False,
        "normalization": "random_baseline",
        "benchmarks": benchmarks,
    }


SUITES = {"open_llm_v2": open_llm_v2, "babylm": babylm, "mc_norm": mc_norm}


def render(name: str) -> str:
    """The YAML text of a shipped suite, as generated from lm-eval's task files."""
    import yaml

    header = "# Generated by `python -m lm_eval_ext.submission.suite_files`; see its docstring.\n"
    return header + yaml.safe_dump(SUITES[name](), sort_keys=False, width=100)


def main(out_dir: str | None = None) -> int:
    """Write every shipped suite YAML into ``out_dir`` (default: the package's suites/)."""
    target = Path(out_dir) if out_dir else SUITES_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in SUITES:
        (target / f"{name}.yaml").write_text(render(name), encoding="utf-8")
        print(target / f"{name}.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
