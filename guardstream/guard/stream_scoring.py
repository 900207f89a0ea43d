"""Scoring a reply while it streams: what a stream's state is and the batched step that extends it.

A streamed reply arrives as text deltas. A :class:`StreamScorer` keeps, per stream, whatever lets
the next delta cost O(delta) instead of O(reply so far): the generative guard keeps its key/value
cache (:mod:`guardstream.guard.stream_generative`), the fast guard the window of the reply's last
characters it scores (:mod:`guardstream.guard.stream_fast`). A state can be rebuilt from the text
already seen (:meth:`StreamScorer.open`) and rewound to a chunk boundary it has seen
(:meth:`StreamState.rewind`), so a worker that replays chunks after a crash gets the same scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from guardstream.guard.scoring import Scores


class StreamState(Protocol):
    """One stream's scoring state: its question and the reply's characters it holds."""

    @property
    def question(self) -> str: ...

    @property
    def chars(self) -> int:
        """How many characters of the reply the state holds."""
        ...

    @property
    def size_bytes(self) -> int:
        """Memory the state holds, roughly (what a bounded table of states counts)."""
        ...

    def rewind(self, chars: int) -> bool:
        """Return the state to its first ``chars`` characters of reply; False when ``chars`` is not
        a chunk boundary it has seen (the caller then rebuilds it from the text)."""
        ...


class StreamScorer(Protocol):
    """Extends streams' states by text deltas and scores each as it then stands."""

    def open(self, question: str, text: str) -> StreamState:
        """A state holding the reply's first ``text`` (empty for a new stream; a rebuild otherwise)."""
        ...

    def advance(self, steps: Sequence[tuple[StreamState, str]]) -> Scores:
        """Append each delta to its state (in place) and score every state as it then stands, in order.

        A stream appears at most once per call. The score approximates scoring the pair
        (question, reply so far) in one pass; how closely is each scorer's documented contract."""
        ...
