"""The official VQA accuracy on hand-worked cases (one per normalisation rule)."""

from __future__ import annotations

import pytest

from lm_eval_ext.vqa import normalize_answer, vqa_accuracy

NORMALISATION_CASES = [
    ("The Cat", "cat"),  # lower case + article removed
    ("an apple", "apple"),  # article
    ("two", "2"),  # number word -> digit
    ("none", "0"),  # "none" counts as zero
    ("dont", "don't"),  # contraction table
    ("yes?", "yes"),  # "?" removed by word tokenisation
    ("e-mail", "e mail"),  # punctuation not next to a space -> space
    ("coca - cola", "coca cola"),  # punctuation next to a space -> removed
    ("1,000", "1000"),  # comma between digits removed
    ("end.", "end"),  # period not followed by a digit stripped
    ("3.5", "3.5"),  # decimal point kept
    ("  stop\tsign\n", "stop sign"),  # whitespace
    ("john's", "john 's"),  # possessive split off
]


@pytest.mark.parametrize(("raw", "expected"), NORMALISATION_CASES)
def test_normalize_answer(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


ACCURACY_CASES = [
    # 10 matches: every leave-one-out subset has 9 >= 3 -> 1.
    ("no", ["no"] * 10, 1.0),
    # 3 matches: 3 subsets keep 2 (2/3), 7 keep 3 (1) -> (3*2/3 + 7)/10 = 0.9.
    ("2", ["2"] * 3 + ["x"] * 7, 0.9),
    # 2 matches: 2 subsets keep 1 (1/3), 8 keep 2 (2/3) -> (2/3 + 16/3)/10 = 0.6.
    ("two", ["2", "2"] + ["x"] * 8, 0.6),
    # 1 match: 1 subset keeps 0, 9 keep 1 (1/3) -> 3/10 = 0.3.
    ("Coca-Cola.", ["coca cola"] + ["x"] * 9, 0.3),
    # normalisation on both sides: "The Stop" vs "stop" (article, case).
    ("The Stop", ["stop"] * 4 + ["go"] * 6, 1.0),
    ("go", ["stop"] * 4 + ["go"] * 6, 1.0),
    ("red", ["blue"] * 10, 0.0),
]


@pytest.mark.parametrize(("pred", "answers", "expected"), ACCURACY_CASES)
def test_vqa_accuracy(pred: str, answers: list[str], expected: float) -> None:
    assert vqa_accuracy(pred, answers) == pytest.approx(expected)


def test_vqa_accuracy_rejects_empty_answers() -> None:
    with pytest.raises(ValueError):
        vqa_accuracy("x", [])
