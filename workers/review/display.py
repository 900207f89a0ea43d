"""Long fields on the item page: their first characters, and the whole field on request.

A deployment may let texts far longer than the default through ingestion. Browsers lay out one
long run of text in time that grows with the square of its length: a 1M-character item page took
minutes in Chromium. The item page therefore shows at most ``display_max_chars`` characters of
each field (the context turns share one budget) and links to a page with the whole field, cut into
blocks of :data:`CHUNK_CHARS` characters, which Chromium lays out in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PARTS = {"question": "问题 Question", "text": "消息 Text", "analysis": "分析 Analysis", "context": "上下文 Context"}
"""The fields of an item that can be shown whole, with their titles."""
TURN_SEPARATOR = "\n\n"
CHUNK_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class Excerpt:
    """What the item page shows of one field, and how long the field is."""

    shown: tuple[str, ...]
    """The field's text (one entry; the context has one per turn shown)."""
    total: int

    @property
    def shown_chars(self) -> int:
        return sum(len(part) for part in self.shown)

    @property
    def capped(self) -> bool:
        return self.shown_chars < self.total

    @property
    def text(self) -> str:
        return TURN_SEPARATOR.join(self.shown)


def excerpt(text: str | None, limit: int) -> Excerpt:
    value = text or ""
    return Excerpt((value[:limit],), len(value))


def excerpt_turns(turns: Sequence[str], limit: int) -> Excerpt:
    """The first turns, the last one cut, until ``limit`` characters are shown."""
    shown: list[str] = []
    left = limit
    for turn in turns:
        if left <= 0:
            break
        shown.append(turn[:left])
        left -= len(turn)
    return Excerpt(tuple(shown), sum(len(turn) for turn in turns))


def whole_field(verdict: Mapping[str, Any], analysis: str | None, part: str) -> str:
    """The whole of one field of an item (``part`` in :data:`PARTS`)."""
    if part == "context":
        return TURN_SEPARATOR.join(str(turn) for turn in verdict["context"] or ())
    if part == "analysis":
        return analysis or ""
    return str(verdict[part] or "")


def chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)]
