"""The ``lm-eval-ext`` console script's foundation subcommands."""

from __future__ import annotations

import pytest

from lm_eval_ext.cli.main import main


def test_models_lists_mgm_lora(capsys):
    assert main(["models"]) == 0
    assert "mgm_lora     lm_eval_ext.models.mgm_lora:MGMLoRALM" in capsys.readouterr().out


def test_make_tiny_world_builds_a_loadable_model(tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    assert main(["make-tiny-world", str(tmp_path / "w")]) == 0
    assert f"model:   {tmp_path / 'w' / 'tiny-llama'}" in capsys.readouterr().out
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "w" / "tiny-llama")
    assert model.config.model_type == "llama"
    assert (tmp_path / "w" / "tiny-llama-lora" / "adapter_config.json").is_file()


def test_unknown_subcommand_exits_with_usage():
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
