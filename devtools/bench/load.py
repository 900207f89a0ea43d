"""The benchmark's load: generated Chinese chat produced to Kafka at a fixed rate or flat out.

Texts come from :func:`~devtools.loadgen.chat_stream.generate_chat_events` (mostly short messages,
assistant answers of a few sentences) with a long tail added: a small share of messages is
stretched to several hundred or a few thousand characters, as pasted articles and long answers
are in real chat. Every event's ``created_at_ms`` is the moment it is produced, so a verdict's
``end_to_end_ms`` is produce → verdict.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import Producer

from devtools.bench.pacing import Pacer
from devtools.loadgen.chat_stream import generate_chat_events
from guardstream.records import ChatEvent
from guardstream.serde.codec import AvroEncoder

LONG_TAIL_SHARE = 0.01
LONG_TAIL_MIN_CHARS = 300
LONG_TAIL_ALPHA = 1.5
LONG_TAIL_MAX_CHARS = 4000


def long_tail_length(rng: random.Random) -> int:
    """A Pareto-distributed length (characters) for a long message, capped."""
    return min(LONG_TAIL_MAX_CHARS, int(LONG_TAIL_MIN_CHARS * rng.paretovariate(LONG_TAIL_ALPHA)))


def stretch(text: str, length: int) -> str:
    """``text`` repeated (as someone pasting or rambling would) up to ``length`` characters."""
    if not text or len(text) >= length:
        return text
    return (text * (length // len(text) + 1))[:length]


def chat_events(n: int, seed: int, tail_share: float = LONG_TAIL_SHARE) -> list[ChatEvent]:
    """``n`` generated events, ``tail_share`` of them stretched into the long tail."""
    rng = random.Random(seed ^ 0x5EED)
    events = []
    for event in generate_chat_events(n, seed, start_ms=0):
        if rng.random() < tail_share:
            event = dataclasses.replace(event, text=stretch(event.text, long_tail_length(rng)))
        events.append(event)
    return events


@dataclass(slots=True)
class LoadReport:
    produced: int
    seconds: float
    failed: int

    @property
    def rate(self) -> float:
        return self.produced / self.seconds if self.seconds > 0 else 0.0


class LoadGenerator:
    """Produces events cycling over a generated pool; each gets a fresh id and timestamp."""

    def __init__(self, producer: Producer, topic: str, pool: list[ChatEvent], run_id: str) -> None:
        if not pool:
            raise ValueError("the event pool is empty")
        self._producer = producer
        self._topic = topic
        self._pool = pool
        self._run_id = run_id
        self._encoder = AvroEncoder()
        self._next = 0
        self._failed = 0

    def _on_delivery(self, error: object, _message: object) -> None:
        if error is not None:
            self._failed += 1

    def events(self, label: str) -> Iterator[ChatEvent]:
        """Endless events named ``<run id>-<label>-<n>``, stamped when they are taken."""
        while True:
            base = self._pool[self._next % len(self._pool)]
            self._next += 1
            yield dataclasses.replace(
                base, event_id=f"{self._run_id}-{label}-{self._next}", created_at_ms=time.time_ns() // 1_000_000
            )

    def produce(
        self,
        count: int | None,
        rate: float | None,
        label: str,
        duration_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> LoadReport:
        """Produce ``count`` events (or for ``duration_s``) at ``rate``/s (None: flat out); flush."""
        if count is None and duration_s is None:
            raise ValueError("give a count, a duration, or both")
        pacer = Pacer(rate, clock=clock)
        stream = self.events(label)
        produced = 0
        failed_before = self._failed
        started = clock()
        producer, topic, encode = self._producer, self._topic, self._encoder.encode
        while (count is None or produced < count) and (duration_s is None or clock() - started < duration_s):
            allowed = pacer.due()
            if count is not None:
                allowed = min(allowed, count - produced)
            for _ in range(allowed):
                event = next(stream)
                value = encode(event)
                key = event.conversation_id.encode("utf-8")
                while True:
                    try:
                        producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
                        break
                    except BufferError:
                        producer.poll(0.01)
            produced += allowed
            producer.poll(0)
        producer.flush(60)
        return LoadReport(produced, clock() - started, self._failed - failed_before)
