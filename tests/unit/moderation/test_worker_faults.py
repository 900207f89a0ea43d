"""Worker behaviour the chaos suite found wrong: paused partitions after a lost assignment, a fenced
sink during shutdown, records whose headers alone are poison, and a consumer that stops delivering."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from tests.support.kafka_fakes import FakeMessage as Message
from tests.support.worker_fakes import TOPIC, FakeConsumer, FakeModel, FakeSink, chat_event, fake_worker
from workers.moderation.health import Health, KafkaWatch
from workers.moderation.worker import ConsumerStalledError
from workers.transactions import ProducerFencedError


def test_partitions_lost_while_paused_are_resumed_so_they_fetch_when_assigned_again(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    instance = fake_worker(fake_consumer, fake_sink, fake_model)
    partition = [TopicPartition(TOPIC, 0)]
    instance._on_assign(fake_consumer, partition)  # type: ignore[arg-type]
    instance._paused = True
    fake_consumer.pause(partition)
    instance._on_lost(fake_consumer, partition)  # type: ignore[arg-type]
    instance._flow_control()  # the loop's next step: the window is empty, nothing stays paused
    instance._on_assign(fake_consumer, partition)  # type: ignore[arg-type]
    assert fake_consumer.paused == set()  # librdkafka would otherwise keep them paused for good


def test_a_fenced_sink_abandons_uncommitted_work_without_retrying_it_on_shutdown(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    fake_consumer.messages = [Message(chat_event(i), i) for i in range(8)]
    fake_sink.fenced = True
    with pytest.raises(ProducerFencedError):
        fake_worker(fake_consumer, fake_sink, fake_model).run()
    assert fake_sink.attempts == 1  # neither the shutdown drain nor the revoke commits as a zombie


def test_a_record_with_huge_headers_is_dead_lettered_and_the_next_one_gets_a_verdict(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    huge = [(f"x-{i}", b"h" * 32 * 1024) for i in range(4)]
    fake_consumer.messages = [Message(chat_event(0), 0, huge), Message(chat_event(1), 1, [("traceparent", b"bad")])]
    fake_worker(fake_consumer, fake_sink, fake_model).run()
    letters = [letter for outputs in fake_sink.commits for _, letter in outputs.dead_letters]
    verdicts = [verdict.event_id for outputs in fake_sink.commits for _, _, verdict in outputs.verdicts]
    assert [letter.kind for letter in letters] == ["headers_too_large"] and letters[0].source_offset == 0
    assert verdicts == ["e1"]


def test_a_long_database_outage_holds_no_more_than_the_window_in_memory(
    fake_consumer: FakeConsumer, fake_model: FakeModel
) -> None:
    fake_consumer.messages = [Message(chat_event(i), i) for i in range(400)]
    sink = FakeSink(down_s=0.5)
    fake_worker(fake_consumer, sink, fake_model).run()
    verdicts = [verdict.event_id for outputs in sink.commits for _, _, verdict in outputs.verdicts]
    assert len(verdicts) == 400  # nothing lost once it is back
    window = 2 * 4 * 4  # batches of 4, 2 × max_in_flight (4) of them
    assert sink.largest <= 2 * window  # what is waiting plus one window's finished prefix, not the backlog


def test_no_request_is_larger_than_a_batch_when_partitions_resume_beside_a_full_batch(
    fake_consumer: FakeConsumer, fake_model: FakeModel
) -> None:
    """The window frees a place, the partitions resume, and a record arrives while the open batch is
    still full: Triton refuses a request larger than its max_batch_size (seen in the chaos suite)."""
    fake_consumer.messages = [Message(chat_event(i), i) for i in range(200)]
    sink = FakeSink(down_s=0.2)  # the window fills, the open batch too, and the partitions pause
    fake_worker(fake_consumer, sink, fake_model).run()
    verdicts = [verdict.event_id for outputs in sink.commits for _, _, verdict in outputs.verdicts]
    assert sorted(verdicts) == sorted(f"e{i}" for i in range(200))
    assert fake_model.largest == 4


def test_a_partition_whose_committed_offset_an_open_transaction_hides_resumes_there_not_at_the_beginning(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    # The chaos rebalance scenario: a worker killed -9 mid-transaction had committed up to offset 3; its
    # open transaction hides that offset (UNSTABLE_OFFSET_COMMIT) until it times out, and librdkafka,
    # left to look it up itself, may start the partition's new owner at auto.offset.reset instead
    # (the beginning: `messages` from offset 0), which judged 0-2 a second time.
    fake_consumer.messages = [Message(chat_event(i), i) for i in range(6)]
    fake_consumer.committed_offsets = {(TOPIC, 0): 3}
    fake_consumer.unstable_lookups = 2
    fake_worker(fake_consumer, fake_sink, fake_model).run()
    verdicts = [verdict.event_id for outputs in fake_sink.commits for _, _, verdict in outputs.verdicts]
    assert verdicts == ["e3", "e4", "e5"]
    assert fake_consumer.starts == {(TOPIC, 0): 3} and fake_sink.positions[-1] == {(TOPIC, 0): 6}


def test_a_partition_without_a_committed_offset_starts_at_the_beginning(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    fake_consumer.messages = [Message(chat_event(i), i) for i in range(3)]
    fake_worker(fake_consumer, fake_sink, fake_model).run()
    verdicts = [verdict.event_id for outputs in fake_sink.commits for _, _, verdict in outputs.verdicts]
    assert verdicts == ["e0", "e1", "e2"] and fake_consumer.starts == {(TOPIC, 0): OFFSET_BEGINNING}


@dataclass
class NeverRejoiningConsumer(FakeConsumer):
    """Loses its assignment at the first poll (a session timeout while the broker restarted) and is
    never assigned anything again, as librdkafka was seen doing after a broker restart. ``on_poll``
    runs at every poll."""

    lost: bool = False
    on_poll: Callable[[], None] = lambda: None

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        self.on_poll()
        if not self.lost:
            self.lost = True
            self.callbacks["on_lost"](self, list(self.assignment))
        time.sleep(min(timeout, 0.01))
        return []


def test_a_worker_the_group_never_assigns_again_stops_so_that_it_can_start_with_a_new_consumer(
    fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    worker = fake_worker(NeverRejoiningConsumer(), fake_sink, fake_model, stall_timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(ConsumerStalledError, match="assigned this worker nothing"):
        worker.run()
    assert 0.2 <= time.monotonic() - started < 5.0
    assert not worker.health.joined


def test_the_wait_for_an_assignment_does_not_count_while_kafka_is_down(
    fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    consumer = NeverRejoiningConsumer()
    worker = fake_worker(consumer, fake_sink, fake_model, stall_timeout_s=0.2)
    worker.health.degrade("kafka", "1/1 brokers are down")
    outage_ends = time.monotonic() + 0.5

    def recover_when_the_outage_ends() -> None:
        if time.monotonic() >= outage_ends:
            worker.health.recover("kafka")

    consumer.on_poll = recover_when_the_outage_ends
    started = time.monotonic()
    with pytest.raises(ConsumerStalledError):
        worker.run()
    assert time.monotonic() - started >= 0.5 + 0.2  # the outage, then the whole wait


@dataclass
class StallingConsumer(FakeConsumer):
    """Hands out ``delivered`` records, then nothing more though the partition holds the rest, as
    librdkafka was seen doing a few seconds after its partitions were assigned again after a broker
    restart. Each poll takes a millisecond, so that time passes."""

    delivered: int = 0
    made_at: float = field(default_factory=time.monotonic)

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        time.sleep(0.001)
        room = self.delivered - self.positions.get((TOPIC, 0), 0)
        if self.messages and room <= 0:
            if time.monotonic() - self.made_at > 3.0 and self.on_idle is not None:
                self.on_idle()  # a worker that never notices is stopped, so that its test fails, not hangs
            return []  # the rest stays in the partition, never fetched
        return super().consume(min(num_messages, room) if self.messages else num_messages, timeout)


def watching_the_end(end: int) -> KafkaWatch:
    """librdkafka's statistics as the worker reads them: the partition's last stable offset is ``end``."""
    watch = KafkaWatch(Health())
    watch.on_stats(json.dumps({"topics": {TOPIC: {"partitions": {"0": {"ls_offset": end, "committed_offset": -1}}}}}))
    return watch


def test_a_consumer_that_stops_fetching_records_its_partition_holds_is_replaced_with_nothing_left_uncommitted(
    fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    consumer = StallingConsumer(messages=[Message(chat_event(i), i) for i in range(6)], delivered=3)
    worker = fake_worker(consumer, fake_sink, fake_model, kafka_watch=watching_the_end(6), stall_timeout_s=0.1)
    with pytest.raises(ConsumerStalledError, match=r"chat.events\[0\] holds records up to 6 past position 3"):
        worker.run()
    verdicts = [verdict.event_id for outputs in fake_sink.commits for _, _, verdict in outputs.verdicts]
    assert verdicts == ["e0", "e1", "e2"] and fake_sink.positions[-1] == {(TOPIC, 0): 3}


def test_a_consumer_that_has_read_all_its_partitions_hold_is_left_alone_however_long_it_waits(
    fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    consumer = StallingConsumer(messages=[Message(chat_event(i), i) for i in range(6)], delivered=6)
    worker = fake_worker(consumer, fake_sink, fake_model, kafka_watch=watching_the_end(6), stall_timeout_s=0.05)
    started = time.monotonic()
    worker.run()  # it stops when the consumer has run dry (200 empty polls)
    assert time.monotonic() - started > 0.05 * 3
    assert len([v for outputs in fake_sink.commits for _, _, v in outputs.verdicts]) == 6
