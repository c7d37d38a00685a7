"""The generated MMLU YAMLs: up to date, all 57 subjects, same questions as lm-eval's."""

from __future__ import annotations

from pathlib import Path

import yaml

from lm_eval_ext.scoring.mmlu_tasks import mmlu_subjects, render_mmlu_configs, write_mmlu_configs

REPO = Path(__file__).resolve().parents[2]
MMLU_DIR = REPO / "tasks" / "mc_norm" / "mmlu"


def test_committed_yamls_are_what_the_generator_writes(tmp_path):
    written = {p.name: p.read_text() for p in write_mmlu_configs(tmp_path)}
    on_disk = {p.name: p.read_text() for p in MMLU_DIR.glob("*.yaml")}
    assert on_disk == written
    assert sorted(p.name for p in MMLU_DIR.iterdir() if p.suffix != ".yaml") == [
        "_default_template_yaml"
    ]


def test_each_subject_matches_lm_evals_own_subject_yaml():
    import lm_eval.tasks

    builtin_dir = Path(lm_eval.tasks.__file__).parent / "mmlu" / "default"
    subjects = mmlu_subjects()
    assert len(subjects) == 57
    rendered = render_mmlu_configs()
    for subject, category in subjects.items():
        theirs = yaml.safe_load((builtin_dir / f"mmlu_{subject}.yaml").read_text())
        mine = rendered[f"mmlu_{subject}_mcnorm.yaml"]
        assert mine["dataset_name"] == theirs["dataset_name"]
        assert mine["description"] == theirs["description"]
        assert mine["tag"] == f"{theirs['tag']}_mcnorm" == f"mmlu_{category}_tasks_mcnorm"


def test_group_reaches_all_57_subjects_through_the_task_index():
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(MMLU_DIR), include_defaults=False)
    index = manager.task_index
    group = yaml.safe_load((MMLU_DIR / "_mmlu_mcnorm.yaml").read_text())
    reached = set()
    for category_group in group["task"]:
        assert category_group in manager.all_groups
        cfg = yaml.safe_load((MMLU_DIR / f"_{category_group}.yaml").read_text())
        for tag in cfg["task"]:
            reached |= index[tag].tags
    assert reached == {f"mmlu_{s}_mcnorm" for s in mmlu_subjects()}
