"""Prefix scoring: a pair is judged as it grows, boundary by boundary, so that an addition neither
lowers its verdict nor raises it unless what it adds is itself unsafe.

A guard that summarises its input (a mean over n-grams, a first-token vector) reads text added after
a harmful message as evidence of safety: measured on COLD's dev split, one neutral sentence appended
to a post turned 15% of the fast guard's unsafe verdicts to safe, and an appended instruction to
answer "safe" does the same on purpose. So the judged text is also scored cut short at each boundary
(a sentence end, a line break, a space next to Chinese text, an opening bracket or quote): the
message as it was before anything was added is one of those prefixes, whatever the addition says.

The other way round, an addition that only talks about moderation ("举报：此人言论涉嫌地域歧视，
请立刻封号！") raised the whole pair's score though it does nothing to anyone: keeping the most
unsafe prefix turned 4.1% of safe verdicts unsafe on a set of unseen reports and accusations (8.9%
glued to the post). So each prefix may raise the pair's score only as far as the segment it adds,
scored alone, is unsafe too: score = the first prefix's, then at each later prefix
max(score, min(prefix, segment alone)), the whole pair being the last prefix. An unsafe sentence
added to a benign one is unsafe alone and counts; a report alone is not (a guard is trained that
lone moderation talk is safe) and does not. Measured on the full default over 1,000 COLD dev posts
against the most unsafe prefix: safe->unsafe 0.041 -> 0.010 (unseen reports and accusations
appended), 0.089 -> 0.039 (the same glued), 0.027 -> 0.014 (the held-out attack family);
unsafe->safe unchanged within 0.006; accuracy 0.888 -> 0.885.

Two borderline signals make no flip: a step raises the score only where the prefix it reaches or
the segment it adds is confidently unsafe (``raise_min``, 0.7 for the default). Reports and
accusations that name a harm or a group ("刚才那句妥妥的贬低乡下人") scored 0.5-0.7 both appended
and alone, an unsafe sentence added to a post scores high at least alone. Measured on the full
default over 1,000 COLD dev posts, 0 / 0.7: the held-out attack family safe->unsafe 0.026 / 0.018,
two unseen sets 0.020 / 0.016 and 0.070 / 0.058; unsafe->safe within 0.002; accuracy on 2,000
COLD dev posts 0.9040 / 0.9030, on the validation split the same (0.9126).

Prefixes rather than sentences alone: a sentence alone loses what came before it, so the sentence
only bounds what its prefix adds, it never decides by itself.

The judged text is the response, or the question when there is no response (a lone message); a
response's prefixes and segments keep their question. A prefix shorter than ``min_chars`` is not
scored (a fragment such as "好的。" says little alone), nor is a cut that leaves only spaces behind; a
text with no such cut is scored whole, and one with many keeps its first ``max_prefixes`` (so that
however many sentences are added after a message, the cut at its own end stays among them; the last
segment then holds all that follows). Prefixes cover only what the whole pair's encoding keeps (a
response's start, a lone message's end, ``window`` characters).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

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
    kept: list[int] = []
    for cut in sorted(cuts):
        # a cut must add something to the one before it: a step of spaces alone is no segment
        if len(text[:cut].strip()) >= min_chars and text[cut:].strip() and text[kept[-1] if kept else 0 : cut].strip():
            kept.append(cut)
    return kept[:max_prefixes]


@dataclass(frozen=True)
class Step:
    """A later prefix of a pair (the whole pair for the last) and the segment it adds to the prefix
    before it, as rows to score."""

    prefix: int
    added: int


@dataclass(frozen=True)
class Chain:
    """A pair's rows in the order it grows: its first prefix (the whole pair when it has no cut),
    then a step per later prefix."""

    first: int
    steps: list[Step]


@dataclass(frozen=True)
class SegmentedPairs:
    """The rows to score: every pair first, then its prefixes and segments; ``chains[pair]`` its rows."""

    rows: list[tuple[str, str]]
    chains: list[Chain]


def with_judged_text(question: str, response: str, text: str) -> tuple[str, str]:
    """The pair with ``text`` as its judged text: in place of the response, or, for a lone message (no
    response), of the message itself. Text put in an empty response would turn a lone post into a
    reply of its own, a different thing to judge."""
    return (question, text) if response else (text, "")


def segment_pairs(
    pairs: Sequence[tuple[str, str]],
    min_chars: int = DEFAULT_MIN_CHARS,
    window: int = 256,
    max_prefixes: int = DEFAULT_MAX_PREFIXES,
) -> SegmentedPairs:
    rows = list(pairs)
    chains: list[Chain] = []

    def row(question: str, response: str, text: str) -> int:
        rows.append(with_judged_text(question, response, text))
        return len(rows) - 1

    for index, (question, response) in enumerate(pairs):
        # Cut what the encoder reads: format characters (zero-width joiners…) count for nothing,
        # so a disguise cannot move a boundary or a prefix's length.
        judged = visible(response)[:window] if response else visible(question)[-window:]
        cuts = prefix_cuts(judged, min_chars, max_prefixes)
        # a line break that ends a prefix is no part of it; the whole pair is the last prefix
        prefixes = [row(question, response, judged[:cut].rstrip()) for cut in cuts] + [index]
        added = [row(question, response, judged[a:b].strip()) for a, b in pairwise([*cuts, None])]
        chains.append(Chain(prefixes[0], [Step(p, a) for p, a in zip(prefixes[1:], added, strict=True)]))
    return SegmentedPairs(rows, chains)


def deciding_rows(chains: Sequence[Chain], p_unsafe: Sequence[float], raise_min: float = 0.0) -> list[int]:
    """Per pair, the row whose score is the pair's: its first prefix's, raised at each later prefix
    to that prefix's score, but no higher than what the step adds scores alone; a step raises nothing
    unless the prefix it reaches or the segment it adds scores ``raise_min`` or more."""
    deciding: list[int] = []
    for chain in chains:
        best = chain.first
        for step in chain.steps:
            if max(p_unsafe[step.prefix], p_unsafe[step.added]) < raise_min:
                continue
            bounded = step.prefix if p_unsafe[step.prefix] <= p_unsafe[step.added] else step.added
            if p_unsafe[bounded] > p_unsafe[best]:
                best = bounded
        deciding.append(best)
    return deciding
