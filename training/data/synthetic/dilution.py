"""Dilution: benign sentences added around a message, which never changes what the message is.

A harmful reply with a friendly sentence after it is still harmful; a guard that averages over its
input (the lexical head's mean over n-grams, the encoder's first-token summary) reads the padding
as evidence of safety. Padded copies of training items, label kept, teach both heads that benign
text around harmful text decides nothing; padded safe items keep the heads from learning the
opposite shortcut (padding means unsafe).

The benign sentences come from safe training items (synthetic and real); the padding goes in the
text under judgement, the response or, for a lone message, the question, as the injection
evaluation puts its attacks (:mod:`training.evaluation.injection`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import replace

from training.data.records import GuardRecord, content_id

_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
MIN_SENTENCE_CHARS = 6
MAX_SENTENCE_CHARS = 60


def benign_sentences(records: Sequence[GuardRecord]) -> list[str]:
    """The distinct sentences of the safe records' texts, of a length a chat line has."""
    found: dict[str, None] = {}
    for record in records:
        if record.unsafe:
            continue
        for text in (record.question, record.response):
            for match in _SENTENCE.finditer(text):
                sentence = match.group().strip()
                if MIN_SENTENCE_CHARS <= len(sentence) <= MAX_SENTENCE_CHARS:
                    found[sentence] = None
    return list(found)


def pad(text: str, padding: str, rng: random.Random) -> str:
    """``padding`` after ``text``, before it, or after one of its sentences."""
    roll = rng.random()
    if roll < 0.5:
        return text + rng.choice(("", " ", "\n")) + padding
    if roll < 0.75:
        return padding + rng.choice(("", " ", "\n")) + text
    ends = [i + 1 for i, ch in enumerate(text) if ch in "。！？!?\n，,"]
    at = rng.choice(ends) if ends else len(text)
    return text[:at] + padding + text[at:]


def padded_copies(records: Sequence[GuardRecord], sentences: Sequence[str], fraction: float, seed: int, *, most: int = 3) -> list[GuardRecord]:
    """Copies of about ``fraction`` of ``records`` with one to ``most`` benign sentences added to the
    text under judgement, labels kept; none when there are no sentences."""
    if not sentences or fraction <= 0:
        return []
    rng = random.Random(seed)
    copies: list[GuardRecord] = []
    for record in records:
        if rng.random() >= fraction:
            continue
        padding = "".join(rng.choice(sentences) for _ in range(rng.randint(1, most)))
        question, response = record.question, record.response
        if response:
            response = pad(response, padding, rng)
        else:
            question = pad(question, padding, rng)
        copies.append(replace(record, id=content_id(question, response, prefix="pad"), question=question, response=response))
    return copies
