"""A record the audit store refuses for its content is isolated by halving and dead-lettered; the
rest of its batch is written. On SQLite (a trigger refuses) and a real PostgreSQL (a CHECK does)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from guardstream.audit.store import AuditStore
from guardstream.policy import Policy
from tests.support.audit_records import dead_letter, event_and_verdict
from tests.support.stack import migrated_audit_engine
from workers.moderation.audit_isolation import write_isolating
from workers.moderation.batch import Consumed
from workers.moderation.outputs import BatchOutputs, OutputStamp

REFUSED_MARK = "refuse-me"
REFUSE = {
    "sqlite": (
        "CREATE TRIGGER refuse_marked BEFORE INSERT ON verdicts WHEN NEW.text LIKE '%refuse-me%' "
        "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
    ),
    "postgresql": "ALTER TABLE verdicts ADD CONSTRAINT refuse_marked CHECK (text NOT LIKE '%refuse-me%')",
}
STAMP = OutputStamp("guard", Policy("p", 0.5, 0.35), "w1", dlq_payload_max_bytes=4)


class CountingStore(AuditStore):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.writes = 0

    def write(self, verdicts, dead, shadows=(), revisions=()):  # type: ignore[no-untyped-def]
        self.writes += 1
        return super().write(verdicts, dead, shadows, revisions)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CountingStore]:
    with migrated_audit_engine(request.param, tmp_path) as engine:
        with engine.begin() as connection:
            connection.execute(text(REFUSE[request.param]))
        yield CountingStore(engine)


def outputs(count: int, refused: set[int]) -> BatchOutputs:
    batch = BatchOutputs()
    for index in range(count):
        event, verdict = event_and_verdict(index)
        if index in refused:
            event = dataclasses.replace(event, text=f"{REFUSED_MARK} {index}")
        entry = Consumed("chat.events", 0, index, b"key", 0.0, event=event, payload=b"payload-bytes")
        batch.verdicts.append((entry, event, verdict))
    letter_entry = Consumed("chat.events", 1, 99, None, 0.0, payload=b"\xff")
    batch.dead_letters.append((letter_entry, dead_letter(99)))
    return batch


def test_refused_verdicts_become_dead_letters_and_the_rest_of_the_batch_is_written(store: CountingStore) -> None:
    batch = outputs(16, refused={3, 11})

    write_isolating(store, batch, STAMP, now_ms=7)

    assert [verdict.source_offset for _, _, verdict in batch.verdicts] == [i for i in range(16) if i not in (3, 11)]
    letters = {letter.source_offset: letter for _, letter in batch.dead_letters}
    assert sorted(letters) == [3, 11, 99]
    for offset in (3, 11):
        letter = letters[offset]
        assert (letter.kind, letter.event_id, letter.worker_id) == ("audit_rejected", f"event-{offset}", "w1")
        assert "refused the row" in letter.reason and letter.payload == b"payl" and letter.payload_truncated
    assert store.verdict_count() == 14 and store.dead_letter_count() == 3
    assert store.writes <= 2 + 2 * 2 * 4  # whole batch, dead letters, two halvings of a 16-row batch


def test_a_batch_the_store_takes_is_written_once(store: CountingStore) -> None:
    batch = outputs(8, refused=set())
    write_isolating(store, batch, STAMP, now_ms=7)
    assert store.writes == 1 and len(batch.verdicts) == 8 and len(batch.dead_letters) == 1
    assert store.verdict_count() == 8


def test_writing_the_same_outputs_again_changes_nothing(store: CountingStore) -> None:
    write_isolating(store, outputs(6, refused={0}), STAMP, now_ms=7)
    write_isolating(store, outputs(6, refused={0}), STAMP, now_ms=8)  # a retry after a failed Kafka commit
    assert store.verdict_count() == 5 and store.dead_letter_count() == 2


def test_a_copy_of_an_event_in_a_batch_being_isolated_is_set_aside_not_dead_lettered(store: CountingStore) -> None:
    batch = outputs(8, refused={5})
    _, event, verdict = batch.verdicts[2]
    copy = dataclasses.replace(verdict, source_partition=4, source_offset=70)
    batch.verdicts.append((Consumed("chat.events", 4, 70, b"key", 0.0, event=event), event, copy))

    write_isolating(store, batch, STAMP, now_ms=7)

    assert [verdict.source_offset for _, _, verdict in batch.verdicts] == [0, 1, 2, 3, 4, 6, 7]
    assert [(entry.partition, entry.offset, d.first) for entry, d in batch.duplicates] == [
        (4, 70, ("chat.events", 0, 2))
    ]
    assert sorted(letter.source_offset for _, letter in batch.dead_letters) == [5, 99]
    assert store.verdict_count() == 7 and store.duplicate_count() == 1
