"""Segment scoring: a pair is judged as a whole and in its sentences, and the most unsafe wins.

A guard that summarises its input (a mean over n-grams, a first-token vector) reads benign text
added around a harmful sentence as evidence of safety: measured on COLD's dev split, one neutral
sentence appended to a post turned 15% of the fast guard's unsafe verdicts to safe. Scoring the
judged text's sentences on their own as well, and keeping the highest score, takes that lever away
whatever the padding says, for the cost of the extra rows (about 0.7 per COLD item).

The judged text is the response, or the question when there is no response (a lone message); a
response's segments keep their question. Sentences shorter than ``min_chars`` join the next one, so
that a fragment ("好的。") is never judged alone; a text of one segment adds no row. Segments cover
only the part of the text the whole pair's encoding keeps (a response's start, a lone message's
end, ``window`` characters), so a huge message costs at most about twice its trimmed self.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from guardstream.guard.plain_text import visible

_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?\n]*")
DEFAULT_MIN_CHARS = 12


def split_segments(text: str, min_chars: int = DEFAULT_MIN_CHARS) -> list[str]:
    """``text``'s sentences, short ones joined to the next; empty when it is one segment."""
    found: list[str] = []
    current = ""
    for match in _SENTENCE.finditer(text):
        current += match.group()
        if len(current.strip()) >= min_chars:
            found.append(current)
            current = ""
    if current.strip():
        if found:
            found[-1] += current
        else:
            found.append(current)
    return found if len(found) > 1 else []


@dataclass(frozen=True)
class SegmentedPairs:
    """The rows to score: every pair first, then its segments; ``owner[row]`` is the pair's index."""

    rows: list[tuple[str, str]]
    owner: list[int]


def segment_pairs(
    pairs: Sequence[tuple[str, str]], min_chars: int = DEFAULT_MIN_CHARS, window: int = 256
) -> SegmentedPairs:
    rows = list(pairs)
    owner = list(range(len(pairs)))
    for index, (question, response) in enumerate(pairs):
        # Split what the encoder reads: format characters (zero-width joiners…) count for nothing,
        # so a disguise cannot move a sentence boundary or a fragment's length.
        judged = visible(response)[:window] if response else visible(question)[-window:]
        for segment in split_segments(judged, min_chars):
            rows.append((question, segment) if response else (segment, ""))
            owner.append(index)
    return SegmentedPairs(rows, owner)
