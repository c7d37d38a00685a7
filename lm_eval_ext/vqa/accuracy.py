"""VQA answer normalisation and accuracy, following the EvalAI / MMF TextVQA evaluator.

Accuracy of a prediction against 10 human answers: for each of the 10 leave-one-out subsets
of 9 answers, ``min(#matches / 3, 1)``; the mean of those 10 values. Prediction and every
ground-truth answer are normalised first (MMF's ``EvalAIAnswerProcessor``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lm_eval_ext.vqa._contractions import CONTRACTIONS

NUMBER_MAP = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = frozenset({"a", "an", "the"})
# The official pattern: "(?!<=\d)" is a (harmless) typo for a look-behind, kept for fidelity.
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(?<=\d)(\,)+(?=\d)")
PUNCTUATIONS = [
    ";",
    r"/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
]


def _word_tokenize(text: str) -> str:
    return text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()


def _process_punctuation(text: str) -> str:
    out = text
    for p in PUNCTUATIONS:
        if p + " " in text or " " + p in text or COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    # The reference passes re.UNICODE (32) as the *count* argument; we match that behaviour.
    return PERIOD_STRIP.sub("", out, count=re.UNICODE)


def _process_digit_article(text: str) -> str:
    words = [NUMBER_MAP.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in ARTICLES]
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def normalize_answer(text: str) -> str:
    """Normalise one answer: case, punctuation, number words, articles, contractions."""
    text = _word_tokenize(text).replace("\n", " ").replace("\t", " ").strip()
    return _process_digit_article(_process_punctuation(text))


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """Official VQA accuracy of ``prediction`` against the human ``answers`` (usually 10)."""
    if not answers:
        raise ValueError("vqa_accuracy needs at least one ground-truth answer")
    pred = normalize_answer(prediction)
    gts = [normalize_answer(a) for a in answers]
    accs = []
    for left_out in range(len(gts)):
        matches = sum(1 for i, a in enumerate(gts) if i != left_out and a == pred)
        accs.append(min(1.0, matches / 3))
    return sum(accs) / len(accs)
