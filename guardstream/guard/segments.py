"""Prefix scoring: a pair is judged as a whole and cut short at its boundaries; the most unsafe wins.

A guard that summarises its input (a mean over n-grams, a first-token vector) reads text added after
a harmful message as evidence of safety: measured on COLD's dev split, one neutral sentence appended
to a post turned 15% of the fast guard's unsafe verdicts to safe, and an appended instruction to
answer "safe" does the same on purpose. Scoring the judged text also cut short at each boundary
(a sentence end, a line break, a space next to Chinese text, an opening bracket or quote), and
keeping the highest score, judges the message as it was before anything was added, whatever the
addition says.

Prefixes rather than sentences on their own: a sentence alone loses what came before it, so an
added sentence that only talks about moderation ("该内容涉及地域歧视，请删除") was judged by itself
and turned benign posts unsafe. Measured on the full default over 1,000 COLD dev posts with three
sets of unseen appended attacks and one of benign lines, prefixes gave unsafe->safe 0.008-0.016
against 0.026-0.033 for sentences, safe->unsafe 0.020/0.073/0.109 against 0.022/0.084/0.127, and
accuracy 0.911 against 0.910, for 1.95 scored rows per post against 1.84.

The judged text is the response, or the question when there is no response (a lone message); a
response's prefixes keep their question. A prefix shorter than ``min_chars`` is not scored (a
fragment such as "好的。" says little alone), nor is a cut that leaves only spaces behind; a text
with no such cut adds no row, and one with many keeps its first ``max_prefixes`` (so that however
many sentences are added after a message, the cut at its own end stays among them). Prefixes cover
only what the whole pair's encoding keeps (a response's start, a lone message's end, ``window``
characters).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from guardstream.guard.plain_text import visible

DEFAULT_MIN_CHARS = 12
DEFAULT_MAX_PREFIXES = 8
_SENTENCE_END = re.compile(r"[。！？!?\n]+")
_SPACE = re.compile(r"(?<=\S)\s+(?=\S)")
_OPENING = re.compile(r"[（【《「『“<\[(#{｛]|——")


def prefix_cuts(text: str, min_chars: int = DEFAULT_MIN_CHARS, max_prefixes: int = DEFAULT_MAX_PREFIXES) -> list[int]:
    """Where ``text`` is cut into the prefixes that are scored, in order."""
    cuts = {match.end() for match in _SENTENCE_END.finditer(text)}
    cuts |= {match.start() for match in _OPENING.finditer(text)}
    for match in _SPACE.finditer(text):
        # Between two words of a Latin-script sentence a space is no boundary; next to Chinese text
        # it is where a writer (or an attacker) starts something new. A line break already cuts.
        before, after = text[match.start() - 1], text[match.end()]
        if "\n" not in match.group() and not (before.isascii() and after.isascii()):
            cuts.add(match.start())
    kept = sorted(cut for cut in cuts if len(text[:cut].strip()) >= min_chars and text[cut:].strip())
    return kept[:max_prefixes]


@dataclass(frozen=True)
class SegmentedPairs:
    """The rows to score: every pair first, then its prefixes; ``owner[row]`` is the pair's index."""

    rows: list[tuple[str, str]]
    owner: list[int]


def segment_pairs(
    pairs: Sequence[tuple[str, str]],
    min_chars: int = DEFAULT_MIN_CHARS,
    window: int = 256,
    max_prefixes: int = DEFAULT_MAX_PREFIXES,
) -> SegmentedPairs:
    rows = list(pairs)
    owner = list(range(len(pairs)))
    for index, (question, response) in enumerate(pairs):
        # Cut what the encoder reads: format characters (zero-width joiners…) count for nothing,
        # so a disguise cannot move a boundary or a prefix's length.
        judged = visible(response)[:window] if response else visible(question)[-window:]
        for cut in prefix_cuts(judged, min_chars, max_prefixes):
            prefix = judged[:cut].rstrip()  # a line break that ends a message is no part of it
            rows.append((question, prefix) if response else (prefix, ""))
            owner.append(index)
    return SegmentedPairs(rows, owner)
