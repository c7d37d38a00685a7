"""The model presets in models/ are valid lm-eval ``--config`` files for our models."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lm_eval.api.registry import get_model
from lm_eval.config.evaluate_config import EvaluatorConfig

from lm_eval_ext.models.dispatch import ARCHITECTURE_CLASSES
from lm_eval_ext.models.model_args import check_known_args
from tests.support.lm_eval_runs import read_results, run_lm_eval


def _import(target: str) -> type:
    import importlib

    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


PRESETS = sorted((Path(__file__).resolve().parents[2] / "models").glob("*.yaml"))


def test_presets_exist():
    names = {p.stem for p in PRESETS}
    assert {"tiny-lora", "smollm2-1.7b-step125000", "mgm-2b-lora", "qwen2.5-vl-lora"} <= names


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_is_a_valid_lm_eval_config(preset):
    config = EvaluatorConfig.load_yaml_config(preset)
    cls = get_model(config["model"])
    args = dict(config["model_args"])
    assert "pretrained" in args
    if "vl" in preset.stem:  # hub checkpoints are not reachable here: pick the class by name
        arch = next(a for a in ARCHITECTURE_CLASSES if a.startswith("Qwen2_5_VL"))
        cls = _import(ARCHITECTURE_CLASSES[arch])
    args.pop("pretrained")
    check_known_args(config["model"], args, cls.valid_model_args())
    assert config["batch_size"]


def test_smollm2_preset_pins_the_checkpoint():
    args = EvaluatorConfig.load_yaml_config(PRESETS[0].with_name("smollm2-1.7b-step125000.yaml"))[
        "model_args"
    ]
    assert args["pretrained"] == "HuggingFaceTB/SmolLM2-1.7B-intermediate-checkpoints"
    assert args["revision"] == "step-125000"
    assert args["dtype"] == "bfloat16"


@pytest.mark.e2e
def test_tiny_preset_runs_through_lm_eval_config(tiny_world, tasks_dir, tmp_path):
    preset = yaml.safe_load((tasks_dir.parent / "models" / "tiny-lora.yaml").read_text())
    preset["model_args"]["pretrained"] = str(tiny_world.model_dir)
    preset["model_args"]["lora"] = str(tiny_world.lora_dir)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(preset))
    run_lm_eval(
        [
            "--config",
            str(config),
            "--include_path",
            str(tasks_dir),
            "--tasks",
            "ext_sample_mc",
            "--limit",
            "4",
            "--output_path",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
    )
    results = read_results(tmp_path / "out")
    assert results["config"]["model"] == "mgm_lora"
    assert results["config"]["model_args"]["lora"] == str(tiny_world.lora_dir)
    assert results["results"]["ext_sample_mc"]["sample_len"] == 4
