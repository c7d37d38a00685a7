"""Fixtures of the sweep and report tests: a genuinely trained tiny run, fake lm_eval runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lm_eval_ext.demo.training import TrainedWorld, TrainingPlan, build_trained_world

FAKE_LM_EVAL = Path(__file__).resolve().parents[1] / "support" / "fake_lm_eval.py"
FAKE_MERGE = Path(__file__).resolve().parents[1] / "support" / "fake_merge.py"
#: learns demo_kind between steps 80 and 120 (chance before), in ~10 s on one CPU thread
TEST_PLAN = TrainingPlan(
    steps=120, save_every=40, lr=3e-3, lora_steps=30, lora_save_every=15, lora_lr=5e-3
)


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory: pytest.TempPathFactory) -> TrainedWorld:
    """checkpoint-0/40/80/120 of a tiny Llama trained on demo_kind, and two LoRA adapters."""
    return build_trained_world(tmp_path_factory.mktemp("trained_world"), TEST_PLAN)


@pytest.fixture()
def fake_lm_eval_cmd() -> str:
    """``--lm_eval_cmd`` value that runs tests/support/fake_lm_eval.py."""
    return f"{sys.executable} {FAKE_LM_EVAL}"


@pytest.fixture()
def fake_merge_cmd() -> str:
    """``--merge_cmd`` value that runs tests/support/fake_merge.py."""
    return f"{sys.executable} {FAKE_MERGE}"
