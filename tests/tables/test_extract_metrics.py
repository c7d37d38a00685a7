"""Answer extraction on realistic model outputs, and the metrics on hand-worked examples."""

from __future__ import annotations

import pytest

from lm_eval_ext.tables.extract import extract_answer
from lm_eval_ext.tables.metrics import exact_match, normalize_answer, rouge_l, token_f1

# (model output, extracted answer, method, counted as failure)
EXTRACTION_CASES = [
    ("[Final Answer]: Paris", "Paris", "marker", False),
    (
        "Let me look.\nThe row says 12.\n[Final Answer]: 12.5\n\nExplanation: from row 3",
        "12.5",
        "marker",
        False,
    ),
    ("**[Final Answer]:** Berlin, Rome", "Berlin, Rome", "marker", False),
    ("**Final Answer**: `42`", "42", "marker", False),
    ("### Final Answer:\n\n Mobile devices.", "Mobile devices", "marker", False),
    ("[Final Answer]: 131 because 61 + 70 = 131", "131", "marker", False),
    ("<think>[Final Answer]: wrong</think>So... [Final Answer]: right", "right", "marker", False),
    ("final answer: yes\nfinal answer: no", "no", "marker", False),
    ('```json\n{"final_answer": ["Oslo", "Bergen"]}\n```', "Oslo, Bergen", "json", False),
    ("{answer: 'Vienna', reason: 'row 14',}", "Vienna", "json", False),
    ('[Final Answer]: {"answer": 83.2}', "83.2", "marker", False),
    ("I think the answer is Lisbon.", "Lisbon", "answer_phrase", False),
    ("Looking at the table\nthe value is 7", "the value is 7", "last_line", True),
    ("", "", "empty", True),
]


@pytest.mark.parametrize("text,answer,method,failed", EXTRACTION_CASES)
def test_extract_answer(text, answer, method, failed):
    got = extract_answer(text)
    assert (got.answer, got.method, got.failed) == (answer, method, failed)


@pytest.mark.parametrize(
    "raw,norm",
    [
        ("The Answer!", "answer"),
        ("1,234.50", "1234.5"),
        ("3.14159", "3.14"),
        ("3.145", "3.15") if round(3.145, 2) == 3.15 else ("3.145", "3.14"),
        ("45%", "45"),
        ("$ 1,000", "1000"),
        ("(12)", "12"),
        ("U.S. Army", "us army"),
        ("an apple, a pear", "apple pear"),
    ],
)
def test_normalize_answer(raw, norm):
    assert normalize_answer(raw) == norm


def test_exact_match_and_f1_hand_worked():
    assert exact_match("The total is 1,234.5", "total is 1234.50") == 1.0
    assert exact_match("Paris", "London") == 0.0
    # pred tokens: [berlin, rome, madrid]; ref tokens: [berlin, rome]; overlap 2
    # precision 2/3, recall 2/2 -> F1 = 2*(2/3*1)/(2/3+1) = 0.8
    assert token_f1("Berlin, Rome, Madrid", "Berlin, Rome") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0


def test_token_f1_matches_lm_eval_squad_f1():
    """On number-free strings our F1 is SQuAD's, as implemented in lm-eval's qasper task."""
    from lm_eval.tasks.qasper.metrics import f1_abstractive

    pairs = [
        ("the cat sat on the mat", "a cat on a mat"),
        ("Gratuity, Medical Insurance", "Gratuity, Employer's ESI Contribution, Medical Insurance"),
        ("red blue", "green"),
    ]
    for pred, ref in pairs:
        assert token_f1(pred, ref) == pytest.approx(f1_abstractive([pred], [ref]))


def test_rouge_l_hand_worked():
    # normalised: pred "cat sat on mat" (4), ref "cat is on mat" (4); LCS = cat on mat = 3
    # P = R = 3/4 -> F = 0.75
    assert rouge_l("The cat sat on the mat", "the cat is on the mat") == pytest.approx(0.75)
    # LCS(pred=[x, y, z, w], ref=[y, w]) = 2; P = 2/4, R = 2/2 -> F = 2*0.5*1/1.5 = 2/3
    assert rouge_l("x y z w", "y w") == pytest.approx(2 / 3)
