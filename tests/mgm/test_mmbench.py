"""MMBench: the circular rule on a hand-worked example, option extraction, data expansion."""

from __future__ import annotations

import pytest

from lm_eval_ext.mmbench import circular_accuracy, circular_docs, extract_option
from lm_eval_ext.mmbench.data import load_mmbench
from lm_eval_ext.mmbench.task import (
    doc_to_text,
    process_results_generation,
    process_results_loglikelihood,
)


def test_circular_rule_hand_worked():
    """Q1 right in all 4 rotations, Q2 wrong in 1 of 2, Q3 right in all 3: 2 of 3 questions.

    Per-rotation accuracy would be 8/9; circular accuracy is 2/3.
    """
    items = [(1, True)] * 4 + [(2, True), (2, False)] + [(3, True)] * 3
    assert circular_accuracy(items) == pytest.approx(2 / 3)
    assert sum(c for _, c in items) / len(items) == pytest.approx(8 / 9)
    assert circular_accuracy([]) != circular_accuracy([])  # nan: no questions


def test_rotations_are_generated_when_the_file_has_no_copies():
    row = {
        "index": 5,
        "question": "Q?",
        "hint": "nan",
        "A": "cat",
        "B": "dog",
        "C": "cow",
        "D": "nan",
        "answer": "B",
        "category": "c",
        "L2-category": "L",
    }
    docs = circular_docs([row])
    assert [d["options"] for d in docs] == [
        ["cat", "dog", "cow"],
        ["dog", "cow", "cat"],
        ["cow", "cat", "dog"],
    ]
    assert [d["answer"] for d in docs] == ["B", "A", "C"]  # always "dog"
    assert {d["question_id"] for d in docs} == {5} and docs[0]["hint"] is None


def test_mmbench_copies_are_used_as_given(mgm_world):
    docs = load_mmbench(mmbench_file=str(mgm_world.mmbench_tsv))["dev"]
    assert [(d["question_id"], d["rotation"]) for d in docs] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 0),
        (1, 1),
        (2, 0),
        (2, 1),
        (2, 2),
    ]
    q0 = [d for d in docs if d["question_id"] == 0]
    assert [d["options"][["A", "B", "C", "D"].index(d["answer"])] for d in q0] == ["blue"] * 4
    assert doc_to_text(docs[4]) == (
        "<image>\nLook at the picture.\nIs there a square?\nA. yes\nB. no\n"
        "Answer with the option's letter from the given choices directly."
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("B", "B"),
        ("B.", "B"),
        ("(C) green", "C"),
        ("The answer is D", "D"),
        ("A cat sits on it", None),  # "A" in a sentence is the article
        ("it is green", "C"),
        ("red or blue", None),
        ("", None),
        ("E", None),
    ],
)
def test_extract_option(answer, expected):
    assert extract_option(answer, ["red", "blue", "green", "yellow"]) == expected


def test_process_results_report_question_ids_and_categories():
    doc = {
        "question_id": 7,
        "options": ["x", "y"],
        "answer": "B",
        "category": "image_color",
        "l2_category": "Coarse Perception",
    }
    gen = process_results_generation(doc, ["B"])
    assert gen == {
        "circular_acc": (7, True),
        "acc": 1.0,
        "circular_acc_cat_image_color": (7, True),
        "circular_acc_l2_coarse_perception": (7, True),
    }
    assert process_results_loglikelihood(doc, [(-1.0, True), (-2.0, False)])["circular_acc"] == (
        7,
        False,
    )
