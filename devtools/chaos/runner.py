"""One chaos scenario from start to verdict: fresh topics, group and audit schema; workers; the
stream; the faults; then every output counted against every input.

Order of a run:

1. create the run's own topics and PostgreSQL schema (nothing is shared with another run);
2. start the output reader (``read_committed``, from the beginning of the fresh topics);
3. the scenario starts its workers, produces its stream and injects its faults;
4. wait until every produced record has an output (or the deadline passes);
5. stop the workers with SIGTERM (they drain), read every output partition to its end offset;
6. count the audit rows, judge, drop the topics and the schema.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient, NewTopic

from devtools.chaos.audit_check import DuplicateWatch, audit_schema, count_audit
from devtools.chaos.fleet import Fleet
from devtools.chaos.options import ChaosOptions
from devtools.chaos.report import ScenarioResult, judge
from devtools.chaos.stream import MAX_MESSAGE_BYTES, Record, StreamProducer
from devtools.chaos.tally import OutputReader
from devtools.demo.replay import wait_for_group_member, worker_environment
from devtools.devstack.settings import DevStackSettings
from guardstream.settings import Settings, TopicSettings
from workers.kafka_clients import build_settings_admin_client

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""(phase, records accounted for, records expected) → shown to a person."""


class ChaosFailure(RuntimeError):
    """The scenario could not be carried out (not a criterion failure: those go in the result)."""


@dataclass
class ChaosContext:
    """What a scenario script works with."""

    name: str
    options: ChaosOptions
    settings: Settings
    devstack: DevStackSettings
    topics: TopicSettings
    group: str
    run_id: str
    fleet: Fleet
    stream: StreamProducer
    reader: OutputReader
    admin: AdminClient
    progress: Progress
    audit_url: str
    duplicates: DuplicateWatch | None = None
    """Set by a scenario that sends events again: their copies are accounted for once recorded."""
    expected: int = 0
    deadline: float = 0.0
    progress_seen: int = 0
    """Records accounted for when the deadline last moved on."""
    phase: str = "starting"
    notes: dict[str, object] = field(default_factory=dict)

    def worker_id(self, index: int) -> str:
        return f"{self.group}-w{index}"

    def start_worker(self, index: int, wait: bool = True) -> None:
        worker = self.fleet.start(self.worker_id(index))
        if wait:
            self.say(f"worker w{index} joining the group")
            wait_for_group_member(self.admin, self.group, worker, 300)

    def produce(
        self, records: Iterator[Record], expected: int, rate: float | None = None, duration_s: float | None = None
    ) -> None:
        """Start producing (on a thread); the deadline grows with what is expected."""
        self.expected += expected
        self.deadline = time.monotonic() + self.options.deadline_s(self.expected)
        self.stream.start(records, rate, duration_s)

    def accounted(self) -> int:
        """Records with an output, and copies recorded as duplicates when the scenario sends some."""
        positions = self.reader.tally.positions()
        if self.duplicates is not None:
            positions |= self.duplicates.positions()
        return len(positions)

    def watch_duplicates(self) -> None:
        """Count copies recorded in the audit store's duplicates table (once a worker has migrated it)."""
        self.duplicates = DuplicateWatch(self.audit_url, self.topics.chat_events)

    def expired(self) -> bool:
        """Whether the deadline passed; each record accounted for moves it to at least ``stall_s`` away."""
        accounted, now = self.accounted(), time.monotonic()
        if accounted > self.progress_seen:
            self.progress_seen = accounted
            self.deadline = max(self.deadline, now + self.options.stall_s)
        return now >= self.deadline

    def say(self, phase: str) -> None:
        self.phase = phase
        self.progress(phase, self.accounted(), max(self.expected, len(self.stream.produced)))

    def wait_accounted(self, count: int, phase: str) -> None:
        """Wait until ``count`` records have an output; watch the workers meanwhile."""
        while self.accounted() < count:
            self.fleet.check_alive()
            self.say(phase)
            if self.expired():
                raise ChaosFailure(f"{phase}: only {self.accounted()} of {count} records accounted for by the deadline")
            time.sleep(0.25)

    def wait_fraction(self, fraction: float, phase: str) -> None:
        self.wait_accounted(int(self.expected * fraction), phase)

    def wait_all(self) -> bool:
        """Wait until the stream is produced and every record has an output; False at the deadline."""
        while self.stream.running() or self.accounted() < len(self.stream.produced):
            self.fleet.check_alive()
            self.say("waiting for every output")
            if self.expired():
                return False
            time.sleep(0.25)
        self.stream.join(60)
        return True


Script = Callable[[ChaosContext], None]


def run_scenario(
    name: str,
    script: Script,
    settings: Settings,
    audit_base_url: str,
    options: ChaosOptions,
    progress: Progress = lambda _phase, _done, _total: None,
    devstack: DevStackSettings | None = None,
) -> ScenarioResult:
    devstack = devstack or DevStackSettings()
    check_same_stack(settings, devstack)
    run_id = uuid.uuid4().hex[:8]
    group = f"chaos-{name.replace('_', '-')}-{run_id}"
    result = ScenarioResult(scenario=name)
    started = time.monotonic()
    admin = build_settings_admin_client(settings.kafka)
    with fresh_topics(admin, group) as topics, audit_schema(audit_base_url, f"{name}_{run_id}") as audit_url:
        env = {**worker_environment(settings, topics, audit_url, group), "GUARDSTREAM_WORKER__DRAIN_TIMEOUT_S": "20"}
        fleet = Fleet(env, options.output_dir / group)
        reader = OutputReader(settings.kafka, topics)
        ctx = ChaosContext(
            name=name, options=options, settings=settings, devstack=devstack, topics=topics, group=group,
            run_id=run_id, fleet=fleet, stream=StreamProducer(settings.kafka, topics.chat_events),
            reader=reader, admin=admin, progress=progress, audit_url=audit_url,
        )  # fmt: skip
        reader.start()
        # A short overload (5 s in `make test`) still gets some 30 samples to judge RSS growth by.
        fleet.start_sampling(interval_s=min(1.0, options.overload_s / 32))
        try:
            script(ctx)
            if not ctx.wait_all():
                result.failures.append(
                    f"deadline passed with {len(ctx.stream.produced) - ctx.accounted()} records without an output "
                    f"(none accounted for in the last {options.stall_s:.0f}s)"
                )
        except ChaosFailure as exc:
            result.failures.append(str(exc))
        finally:
            ctx.say("stopping the workers")
            codes = fleet.stop_all()
            fleet.stop_sampling()
            ctx.say("reading every output to its end")
            if not reader.read_to_end(options.settle_timeout_s):
                result.failures.append(
                    f"output topics could not be read to their end (a transaction stayed open): {'; '.join(reader.lagging())}"
                )
            reader.close()
        ctx.say("counting the audit store")
        if ctx.duplicates is not None:
            ctx.duplicates.close()
        audit = count_audit(audit_url, topics.chat_events)
        judge(result, dict(ctx.stream.produced), reader.tally, audit, expect_poison=name == "poison")
        result.peak_rss_mb = fleet.peak_rss_mb
        if fleet.unexpected_exits:
            result.failures.append(f"workers exited by themselves: {fleet.unexpected_exits}")
        # -15: SIGTERM arrived while a restarted worker was still starting (before its handler).
        if any(code not in (0, None, -15) for code in codes):
            result.failures.append(f"workers stopped with exit codes {codes}")
        result.details.update(ctx.notes)
        result.details.update({"workers_started": len(fleet.workers) + fleet.killed, "kills": fleet.killed})
        if name == "overload":
            judge_memory(result, fleet, ctx.notes)
    result.seconds = round(time.monotonic() - started, 1)
    log.info("%s", result.line())
    return result


def judge_memory(result: ScenarioResult, fleet: Fleet, notes: dict[str, object]) -> None:
    """RSS must not grow while the overload lasts: the last quarter against the second."""
    window = notes.get("overload_window")
    if not isinstance(window, tuple):
        result.failures.append("the overload phase did not run")
        return
    begin, end = window
    samples = [sample.rss_mb for sample in fleet.samples if begin <= sample.at <= end]
    if len(samples) < 8:
        result.failures.append(f"only {len(samples)} RSS samples during the overload")
        return
    quarter = len(samples) // 4
    second = sum(samples[quarter : 2 * quarter]) / quarter
    last = sum(samples[-quarter:]) / quarter
    growth = last - second
    result.details.update(
        {"rss_samples": len(samples), "rss_second_quarter_mb": round(second, 1), "rss_last_quarter_mb": round(last, 1)}
    )
    if growth > max(64.0, 0.15 * second):
        result.failures.append(f"RSS grew during the overload: {second:.0f} MB → {last:.0f} MB")


def check_same_stack(settings: Settings, devstack: DevStackSettings) -> None:
    """Faults are injected through the dev stack: it must be the stack the settings point at."""
    if settings.kafka.bootstrap_servers != devstack.kafka_bootstrap:
        raise ChaosFailure(
            f"GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS={settings.kafka.bootstrap_servers} is not the dev stack's broker "
            f"{devstack.kafka_bootstrap} (GUARDSTREAM_DEV_KAFKA_PORT): the chaos suite only breaks its own stack"
        )
    if settings.triton.grpc_url != devstack.triton_grpc_address:
        raise ChaosFailure(
            f"GUARDSTREAM_TRITON__GRPC_URL={settings.triton.grpc_url} is not the dev stack's Triton "
            f"{devstack.triton_grpc_address} (GUARDSTREAM_DEV_TRITON_GRPC_PORT)"
        )


@contextmanager
def fresh_topics(admin: AdminClient, prefix: str) -> Iterator[TopicSettings]:
    parts = ("events", "verdicts", "flagged", "dlq", "feedback", "actions", "rejudge")
    names = {part: f"{prefix}.{part}" for part in parts}
    topics = TopicSettings(
        chat_events=names["events"], verdicts=names["verdicts"], flagged=names["flagged"], dlq=names["dlq"],
        feedback=names["feedback"], actions=names["actions"], rejudge=names["rejudge"],
    )  # fmt: skip
    partitions = {topics.chat_events: 6, topics.verdicts: 6, topics.flagged: 3, topics.dlq: 1, topics.rejudge: 3}
    config = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
    futures = admin.create_topics(
        [
            NewTopic(name, num_partitions=count, replication_factor=1, config=config)
            for name, count in partitions.items()
        ]
    )
    for future in futures.values():
        future.result(timeout=60)
    try:
        yield topics
    finally:
        try:
            for future in admin.delete_topics(list(partitions), operation_timeout=60).values():
                future.result(timeout=60)
        except Exception as exc:  # a broker still restarting: the topics stay, nothing else breaks
            log.warning("could not delete the run's topics %s: %s", sorted(partitions), exc)
