"""The fast guard scoring a streamed reply: each chunk scores the question and the reply's last characters.

The fast guard reads at most ``max_input_tokens`` (256) tokens, so scoring the whole reply so far
would cost O(reply) per chunk and still see only its start. A stream is scored instead on a window
of the reply's last ``window_chars`` characters: every chunk costs the same whatever came before,
and the newest text is always read. A sentence shorter than the window less one chunk lies whole
inside at least one window, so it is judged on its own words, as the whole-pair guard judges it.

The question is cut to its last characters so that question and window together fit the model's
input and the window is never trimmed (a character is at most one token for the WordPiece and
character-level tokenizers the fast guard uses; Chinese text is about one token per character).

A state keeps the reply's characters (4 bytes each at most, in a :class:`io.StringIO`, where an
append and a read of the last characters cost O(delta) and O(window)) and the chunk boundaries it
has seen, so it can rewind to any of them after a replay.
"""

from __future__ import annotations

import io
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from guardstream.errors import ConfigurationError
from guardstream.guard.fast_guard import PAIR_TEMPLATE_TOKENS, FastGuardScorer
from guardstream.guard.scoring import Scores
from guardstream.guard.stream_scoring import StreamState

DEFAULT_WINDOW_CHARS = 128
"""Half of the fast guard's 256-token input: the question keeps the other half (less the template's
three tokens). Long enough for a few sentences of context; a window near the whole input would cut
the question to nothing, and one much shorter would judge sentences in pieces."""


class FastStreamState:
    """One stream: its question, the reply's characters and the chunk boundaries seen in them."""

    def __init__(self, question: str, text: str) -> None:
        self._question = question
        self._reply = io.StringIO(newline="")
        self._ends = array("q")
        self._chars = 0
        self.append(text)

    @property
    def question(self) -> str:
        return self._question

    @property
    def chars(self) -> int:
        return self._chars

    @property
    def size_bytes(self) -> int:
        """Four bytes per character held (the buffer's widest case) and eight per boundary."""
        return 4 * (len(self._question) + self._chars) + self._ends.itemsize * len(self._ends)

    def append(self, delta: str) -> None:
        """Extend the reply by ``delta``; its end becomes a boundary (an empty delta adds none)."""
        if not delta:
            return
        self._reply.seek(self._chars)
        self._reply.write(delta)
        self._chars += len(delta)
        self._ends.append(self._chars)

    def tail(self, chars: int) -> str:
        """The reply's last ``chars`` characters (all of it when shorter)."""
        self._reply.seek(max(self._chars - chars, 0))
        return self._reply.read(chars)

    def rewind(self, chars: int) -> bool:
        """Back to the reply's first ``chars`` characters, when a chunk ended there (or at 0)."""
        index = bisect_left(self._ends, chars)
        if chars != 0 and (index == len(self._ends) or self._ends[index] != chars):
            return False
        del self._ends[index + (chars != 0) :]
        self._reply.truncate(chars)
        self._chars = chars
        return True


class FastStreamScorer:
    """:class:`~guardstream.guard.stream_scoring.StreamScorer` over the fast guard: one batched
    call of :meth:`FastGuardScorer.score_with_categories` per :meth:`advance`."""

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        window_chars: int = DEFAULT_WINDOW_CHARS,
        max_batch_size: int = 64,
    ) -> None:
        self._fast = FastGuardScorer(checkpoint, device=device, dtype=dtype, max_batch_size=max_batch_size)
        room = self._fast.contract.max_input_tokens - PAIR_TEMPLATE_TOKENS
        if not 1 <= window_chars < room:
            raise ConfigurationError(
                f"window_chars must be between 1 and {room - 1} (the fast guard at {checkpoint} reads "
                f"{self._fast.contract.max_input_tokens} tokens), got {window_chars}"
            )
        self.window_chars = window_chars
        self._question_chars = room - window_chars

    def open(self, question: str, text: str) -> FastStreamState:
        return FastStreamState(question, text)

    def pair(self, state: StreamState) -> tuple[str, str]:
        """What the fast guard reads for the stream now: the question's end and the reply's window."""
        own = _own(state)
        question = own.question
        return question[max(len(question) - self._question_chars, 0) :], own.tail(self.window_chars)

    def advance(self, steps: Sequence[tuple[StreamState, str]]) -> Scores:
        for state, delta in steps:
            _own(state).append(delta)
        scores = self._fast.score_with_categories([self.pair(state) for state, _ in steps])
        return Scores(scores.p_unsafe, scores.category.astype(np.int64), scores.category_score)


def _own(state: StreamState) -> FastStreamState:
    if not isinstance(state, FastStreamState):
        raise TypeError(f"FastStreamScorer advances its own states, not {type(state).__name__}")
    return state
