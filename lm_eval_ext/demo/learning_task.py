"""A learnable synthetic multiple-choice task with held-out splits, for the trained demo run.

Each document is a sentence of filler words with one keyword hidden in it; the question asks
which kind of word it is (``animal``, ``colour``, ``number``, ``city``: four choices, chance
0.25). A model learns it by associating the keywords with their kind while ignoring the
fillers, so it generalises to sentences it has never seen: the held-out splits are drawn with
other seeds and share no sentence with the training split, so a rising curve on them shows
learning, not memorisation.

Two vocabularies: ``seen`` keywords (the base training run learns them; task ``demo_kind``)
and ``new`` keywords (only the LoRA fine-tune sees them; task ``demo_kind_new``).
"""

from __future__ import annotations

import random

__all__ = [
    "KINDS",
    "PROMPT",
    "answer_text",
    "heldout_docs",
    "prompt_text",
    "tokenizer_corpus",
    "train_docs",
]

KINDS = ("animal", "colour", "number", "city")
#: The task YAMLs' ``doc_to_text`` is this with ``{{sentence}}`` (tested equal).
PROMPT = "Which kind of word is in: {sentence}?\nAnswer:"

_KEYWORDS = {
    "seen": {
        "animal": "cat dog bird fish horse cow",
        "colour": "red blue green yellow black white",
        "number": "one two three four five six",
        "city": "paris london berlin tokyo dubai rome",
    },
    "new": {
        "animal": "lion sheep mouse goat",
        "colour": "pink brown grey purple",
        "number": "seven eight nine ten",
        "city": "madrid cairo lima oslo",
    },
}
_FILLERS = (
    "the a an of to in is was for on with as by at from that this it be are were has have "
    "model answer question table row column header value total year water fire light sound "
    "tree small large fast slow hot cold old new good bad people time day night"
).split()
_SEEDS = {
    ("seen", "train"): 0,
    ("seen", "heldout"): 1,
    ("new", "train"): 10,
    ("new", "heldout"): 11,
}


def _sentence(rng: random.Random, vocabulary: str) -> tuple[str, int]:
    kind = rng.randrange(len(KINDS))
    keyword = rng.choice(_KEYWORDS[vocabulary][KINDS[kind]].split())
    words = [rng.choice(_FILLERS) for _ in range(rng.randint(4, 9))]
    words.insert(rng.randint(0, len(words)), keyword)
    return " ".join(words), kind


def _docs(vocabulary: str, split: str, n: int, exclude: set[str]) -> list[dict]:
    rng = random.Random(_SEEDS[(vocabulary, split)])
    docs, seen = [], set(exclude)
    while len(docs) < n:
        sentence, kind = _sentence(rng, vocabulary)
        if sentence in seen:
            continue
        seen.add(sentence)
        docs.append(
            {
                "id": f"{vocabulary}-{split}-{len(docs)}",
                "sentence": sentence,
                "choices": list(KINDS),
                "answer": kind,
            }
        )
    return docs


def train_docs(vocabulary: str = "seen", n: int = 4000) -> list[dict]:
    """The training split (deterministic)."""
    return _docs(vocabulary, "train", n, set())


def heldout_docs(vocabulary: str = "seen", n: int = 200, n_train: int = 4000) -> list[dict]:
    """The held-out split: no sentence of it is in the first ``n_train`` training docs."""
    return _docs(vocabulary, "heldout", n, {d["sentence"] for d in train_docs(vocabulary, n_train)})


def prompt_text(doc: dict) -> str:
    """The question as the task shows it (lm-eval's ``doc_to_text``)."""
    return PROMPT.format(sentence=doc["sentence"])


def answer_text(doc: dict) -> str:
    """The correct continuation, with lm-eval's target delimiter (a space)."""
    return " " + KINDS[doc["answer"]]


def tokenizer_corpus() -> list[str]:
    """Text to train the demo tokenizer on: every prompt shape and answer of both vocabularies."""
    lines = []
    for vocabulary in _KEYWORDS:
        lines += [prompt_text(d) + answer_text(d) for d in train_docs(vocabulary, 1000)]
    return lines
