"""What a stream model does with the chunks Triton hands it: find or rebuild each stream's state,
advance them all in one scorer call, and say when it needs the reply so far to go on.

A request carries its stream's id, the question, a delta of the reply and ``prefix_chars``, how
many characters of the reply came before the delta; a client that rebuilds a stream also sends
``text``, the reply before the delta. The state is found in this order:

* START, or no state held (a new stream, or one evicted or lost with a restarted model): a new
  state when ``prefix_chars`` is 0, else one rebuilt from ``text``, else the answer "needs text";
* a state held at ``prefix_chars`` characters (the usual case) is used as it is;
* a state held at another length (a replayed chunk, a lost answer resent) is rewound to
  ``prefix_chars`` when that is a chunk boundary it saw, else rebuilt from ``text``, else the
  answer is "needs text".

A held state whose question is not the request's belongs to another conversation that reused the
id without START; it is not used. A stream's state is dropped after its END is scored.

Kept apart from the Triton glue (:mod:`guardstream.guard.stream_backend`) so it is tested without
a Triton server.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guardstream.guard.category_layout import NO_CATEGORY

if TYPE_CHECKING:  # the contract imports torch; the Triton glue imports this before torch may load
    from guardstream.guard.stream_scoring import StreamScorer, StreamState
    from guardstream.guard.stream_states import StreamStates

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamRequest:
    """One chunk of one stream, as a client sent it; a malformed one raises ValueError."""

    stream_id: str
    start: bool
    end: bool
    question: str
    delta: str
    prefix_chars: int
    text: str | None = None

    def __post_init__(self) -> None:
        if not self.stream_id:
            raise ValueError("the stream id (the request's correlation id) is empty")
        if self.prefix_chars < 0:
            raise ValueError(f"PREFIX_CHARS must be at least 0, got {self.prefix_chars}")
        if self.text is not None and len(self.text) != self.prefix_chars:
            raise ValueError(f"TEXT has {len(self.text)} characters but PREFIX_CHARS is {self.prefix_chars}")


@dataclass(frozen=True)
class StreamAnswer:
    """The stream's score after the delta, or ``needs_text`` (nothing scored: resend with TEXT)."""

    needs_text: bool
    p_unsafe: float
    category: int
    """Index into :data:`~guardstream.guard.category_layout.CATEGORIES`, or ``NO_CATEGORY``."""
    category_score: float
    stream_chars: int
    """Characters of the reply the model holds for the stream after this request."""


class StreamSteps:
    """Runs the requests of one Triton batch against the held states and the scorer."""

    def __init__(self, scorer: StreamScorer, states: StreamStates) -> None:
        self._scorer = scorer
        self._states = states
        self.outcomes: Counter[str] = Counter()
        """How states were found: ``held``, ``rewound``, ``opened``, ``rebuilt``, ``needs_text``."""

    def run(self, requests: Sequence[StreamRequest]) -> list[StreamAnswer]:
        """One answer per request, in order; one :meth:`StreamScorer.advance` call per batch.

        Triton's sequence batcher puts at most one request of a stream in a batch; should one hold
        more, they are run in rounds, so a stream still appears once per scorer call and its
        requests apply in order. If the scorer fails, the states of the failing round are dropped
        (some may hold a delta that was never scored) and the error goes up."""
        answers: list[StreamAnswer | None] = [None] * len(requests)
        seen: Counter[str] = Counter()
        rounds: list[list[int]] = []
        for index, request in enumerate(requests):
            depth = seen[request.stream_id]
            seen[request.stream_id] += 1
            if depth == len(rounds):
                rounds.append([])
            rounds[depth].append(index)
        for indices in rounds:
            for index, answer in zip(indices, self._run_round([requests[i] for i in indices]), strict=True):
                answers[index] = answer
        return [answer for answer in answers if answer is not None]

    def _run_round(self, requests: Sequence[StreamRequest]) -> list[StreamAnswer]:
        try:
            states = [self._state_for(request) for request in requests]
            steps = [
                (state, request.delta) for state, request in zip(states, requests, strict=True) if state is not None
            ]
            scores = self._scorer.advance(steps) if steps else None
        except Exception:
            for request in requests:
                self._states.drop(request.stream_id)
            raise
        answers: list[StreamAnswer] = []
        scored = 0
        for request, state in zip(requests, states, strict=True):
            if state is None or scores is None:
                held = None if request.start else self._states.get(request.stream_id)
                answers.append(StreamAnswer(True, math.nan, NO_CATEGORY, math.nan, held.chars if held else 0))
            else:
                answers.append(
                    StreamAnswer(
                        False,
                        float(scores.p_unsafe[scored]),
                        int(scores.category[scored]),
                        float(scores.category_score[scored]),
                        state.chars,
                    )
                )
                scored += 1
                self._states.put(request.stream_id, state)
            if request.end:
                self._states.drop(request.stream_id)
        return answers

    def _state_for(self, request: StreamRequest) -> StreamState | None:
        """The stream's state at ``prefix_chars`` characters, or None when only its text can make one."""
        if request.start:
            self._states.drop(request.stream_id)
        held = None if request.start else self._states.get(request.stream_id)
        if held is not None and held.question == request.question:
            if held.chars == request.prefix_chars:
                self.outcomes["held"] += 1
                return held
            if held.rewind(request.prefix_chars):
                self.outcomes["rewound"] += 1
                return held
        if request.prefix_chars == 0:
            self.outcomes["opened"] += 1
            return self._scorer.open(request.question, "")
        if request.text is not None:
            self.outcomes["rebuilt"] += 1
            return self._scorer.open(request.question, request.text)
        self.outcomes["needs_text"] += 1
        logger.debug(
            "stream needs its text stream_id=%s prefix_chars=%d held_chars=%s",
            request.stream_id,
            request.prefix_chars,
            held.chars if held is not None else None,
        )
        return None
