"""The input side of a chaos run: valid chat events, poison and fuzz records, produced and remembered.

Every produced record is remembered by its delivered position (partition, offset) with what it
must become: a verdict (with the event id it must carry) or a dead letter (with the kind the worker
must give it), so each output can be matched to its input.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, Producer

from devtools.chaos.fuzz import fuzz_cases
from devtools.loadgen.chat_stream import generate_chat_events
from devtools.loadgen.poison import EXPECTED_KIND, poison_payloads
from guardstream.serde.codec import encode_record
from guardstream.serde.json_codec import chat_event_to_json
from guardstream.settings import KafkaSettings
from workers.kafka_clients import build_producer, position_of

Position = tuple[int, int]
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
QUIET = 2
"""librdkafka log level of the suite's own clients: a broker restarted on purpose is no news."""


@dataclass(frozen=True, slots=True)
class Record:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None
    case: str
    """``valid``, a poison case name, or ``fuzz:`` and a fuzz case name."""
    expected_kind: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Produced:
    case: str
    expected_kind: str | None
    event_id: str | None

    @property
    def valid(self) -> bool:
        """Whether it must get a verdict (valid events, and fuzz cases within every limit)."""
        return self.expected_kind is None


def valid_records(count: int, seed: int, run_id: str, json_share: float) -> Iterator[Record]:
    """``count`` generated chat events with ids unique to ``run_id``, stamped when produced."""
    rng = random.Random(seed)
    for event in generate_chat_events(count, seed):
        event = dataclasses.replace(event, event_id=f"{run_id}-{event.event_id}", created_at_ms=int(time.time() * 1000))
        value = chat_event_to_json(event) if rng.random() < json_share else encode_record(event)
        traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
        yield Record(
            key=event.conversation_id.encode("utf-8"),
            value=value,
            headers=[("traceparent", traceparent.encode("ascii"))],
            case="valid",
            event_id=event.event_id,
        )


def poison_records(seed: int) -> list[Record]:
    """Every poison case of the load generator, plus the ones only a Kafka record can carry."""
    records = [
        Record(key=b"poison", value=payload, headers=None, case=case, expected_kind=EXPECTED_KIND[case])
        for case, payload in poison_payloads(seed)
    ]
    valid = next(valid_records(1, seed + 1, f"poison-{seed}", 0.0))
    huge = [(f"x-filler-{index}", b"h" * (64 * 1024)) for index in range(16)]
    records.append(Record(key=b"poison", value=None, headers=None, case="null_value", expected_kind="empty_payload"))
    records.append(
        Record(key=b"poison", value=valid.value, headers=huge, case="huge_headers", expected_kind="headers_too_large")
    )
    return records


def fuzz_records(seed: int, run_id: str) -> list[Record]:
    """The fuzz scenario's cases (see :mod:`devtools.chaos.fuzz`) as records to produce."""
    return [
        Record(key=case.key, value=case.value, headers=case.headers, case=f"fuzz:{case.name}",
               expected_kind=case.expected_kind, event_id=case.event_id)
        for case in fuzz_cases(seed, run_id)
    ]  # fmt: skip


def mixed(valid: Iterator[Record], poison: list[Record], count: int, seed: int) -> Iterator[Record]:
    """``count`` valid records with the poison ones at random places among them."""
    rng = random.Random(seed)
    slots: dict[int, list[Record]] = {}
    for record in poison:
        slots.setdefault(rng.randrange(count + 1), []).append(record)
    for index in range(count + 1):
        yield from slots.get(index, ())
        if index < count:
            yield next(valid)


RESENT_CASES = ("resent:batch", "resent:partition", "resent:late")
"""A copy sent right behind its event (same key: the same batch), later with another key (most
likely another partition), or once the first part of the stream is judged (after a restart)."""


@dataclass(frozen=True, slots=True)
class ResentStream:
    first: list[Record]
    """The events, some followed by a copy, some with a copy under another key further on."""
    late: list[Record]
    """Copies of events of ``first``, to send once those are judged."""


def resent_stream(events: list[Record], share: float, seed: int) -> ResentStream:
    """``share`` of ``events`` sent twice, a third of them in each way of :data:`RESENT_CASES`."""
    rng = random.Random(seed)
    chosen = rng.sample(range(len(events)), k=round(share * len(events)))
    case_of = {index: RESENT_CASES[number % len(RESENT_CASES)] for number, index in enumerate(chosen)}
    further_on: dict[int, list[Record]] = {}
    first: list[Record] = []
    late: list[Record] = []
    for index, event in enumerate(events):
        first.extend(further_on.pop(index, ()))
        first.append(event)
        case = case_of.get(index)
        if case == "resent:batch":
            first.append(dataclasses.replace(event, case=case))
        elif case == "resent:partition":
            rekeyed = dataclasses.replace(event, key=(event.key or b"") + b"/resent", case=case)
            further_on.setdefault(rng.randint(index + 1, len(events)), []).append(rekeyed)
        elif case == "resent:late":
            late.append(dataclasses.replace(event, case=case))
    first.extend(further_on.pop(len(events), ()))
    return ResentStream(first, late)


@dataclass
class StreamProducer:
    """Produces records on a thread, optionally at a fixed rate; remembers delivered positions."""

    kafka: KafkaSettings
    topic: str
    produced: dict[Position, Produced] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    _thread: threading.Thread | None = None

    def start(self, records: Iterator[Record], rate: float | None = None, duration_s: float | None = None) -> None:
        self._thread = threading.Thread(target=self._run, args=(records, rate, duration_s), daemon=True)
        self._thread.start()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout_s: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise TimeoutError(f"producing to {self.topic} did not finish within {timeout_s:.0f}s")
        if self.failures:
            raise RuntimeError(f"{len(self.failures)} records could not be produced: {self.failures[:3]}")

    def _run(self, records: Iterator[Record], rate: float | None, duration_s: float | None) -> None:
        producer = build_producer(self.kafka, **{"message.max.bytes": MAX_MESSAGE_BYTES, "log_level": QUIET})
        started = time.monotonic()
        for number, record in enumerate(records):
            if duration_s is not None and time.monotonic() - started >= duration_s:
                break
            if rate is not None:
                due = started + number / rate
                while (wait := due - time.monotonic()) > 0:
                    producer.poll(min(wait, 0.05))
            self._produce(producer, record)
        if producer.flush(120):
            self.failures.append("flush timed out with records still queued")

    def _produce(self, producer: Producer, record: Record) -> None:
        remembered = Produced(record.case, record.expected_kind, record.event_id)

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                self.failures.append(f"{record.case}: {error.str()}")
            else:
                _topic, partition, offset = position_of(message)
                self.produced[(partition, offset)] = remembered

        headers: list[tuple[str, str | bytes | None]] | None = None if record.headers is None else list(record.headers)
        while True:
            try:
                producer.produce(self.topic, value=record.value, key=record.key, headers=headers, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
        self.sent += 1
        producer.poll(0)
