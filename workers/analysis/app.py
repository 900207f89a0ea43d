"""Wiring: build the analysis loop from the settings, and keep one running on its own thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from guardstream.audit.engine import build_engine, prepare_schema
from guardstream.audit.store import AuditStore
from guardstream.errors import ConfigurationError
from guardstream.records import Verdict
from guardstream.serde.codec import AvroDecoder, AvroEncoder
from guardstream.serde.confluent import ConfluentSerde
from guardstream.settings import Settings
from workers.analysis.analyst import Analyst
from workers.analysis.loop import AnalysisLoop, LoopIdentity
from workers.analysis.sink import AnalysisSink
from workers.kafka_clients import build_moderation_consumer, build_transactional_producer
from workers.retry import Backoff
from workers.transactions import KafkaTransactions
from workers.triton_client import GuardModelClient

log = logging.getLogger(__name__)


def analysis_group(settings: Settings) -> str:
    return settings.analysis.group_id or f"{settings.worker.group_id}-analysis"


def build_analysis_loop(settings: Settings, yield_to_verdicts: Callable[[], bool] = lambda: False) -> AnalysisLoop:
    """An analysis loop with its own consumer, transactional producer, Triton client and engine.

    Inside a worker, ``yield_to_verdicts`` asks the worker whether its verdict path is behind.
    """
    worker = settings.worker
    engine = build_engine(settings.audit.url)
    prepare_schema(engine, settings.audit.migrate_on_start)
    audit = AuditStore(engine)
    consumer = build_moderation_consumer(settings.kafka, analysis_group(settings), f"{worker.worker_id}-analysis")
    transactional_id = f"{worker.transactional_id_prefix}-analysis-{worker.worker_id}"
    transactions = KafkaTransactions(
        build_transactional_producer(settings.kafka, transactional_id),
        consumer,
        rebuild=lambda: build_transactional_producer(settings.kafka, transactional_id),
    )
    registry = (
        ConfluentSerde.from_url(settings.kafka.schema_registry_url) if settings.kafka.schema_registry_url else None
    )
    decoder = AvroDecoder(registry)
    return AnalysisLoop(
        settings.analysis,
        settings.topics.flagged,
        consumer,
        Analyst(GuardModelClient(settings.triton), audit, settings.triton.explain_model_name),
        AnalysisSink(transactions, audit, settings.topics, AvroEncoder(registry).encode),
        lambda payload: decoder.decode(Verdict, payload),
        LoopIdentity(worker.worker_id, worker.dlq_payload_max_bytes),
        Backoff(settings.triton.retry_initial_s, settings.triton.retry_max_s),
        yield_to_verdicts=yield_to_verdicts,
    )


class AnalysisRunner:
    """Keeps one analysis loop running until stopped; a loop that fails is replaced after a backoff.

    The moderation worker never waits for it: a failed analysis loop (its producer fenced, a
    transaction's outcome unknown, a broken connection) costs analyses time, never verdicts. A
    fresh loop's producer registers the same transactional id, which aborts whatever the failed
    one left open, and its consumer resumes from the committed offsets.
    """

    def __init__(self, build: Callable[[], AnalysisLoop], backoff: Backoff) -> None:
        self._build = build
        self._backoff = backoff
        self._stopping = threading.Event()
        self._loop: AnalysisLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run in a thread of its own (a daemon: it never keeps a finished worker alive)."""
        self._thread = threading.Thread(target=self.run, name="analysis", daemon=True)
        self._thread.start()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                loop = self._loop = self._build()
                if self._stopping.is_set():  # stop() came while it was being built
                    loop.stop()
                loop.run()
            except ConfigurationError as exc:
                log.error("analysis loop cannot start, analyses stop here: %s", exc)
                return
            except Exception:  # whatever broke it, a fresh loop takes over from the committed offsets
                delay = self._backoff.next_delay()
                log.exception("analysis loop failed; a new one starts in %.1fs", delay)
                self._stopping.wait(delay)

    def stop(self) -> None:
        """Ask the running loop to finish its batch and exit (safe from a signal handler)."""
        self._stopping.set()
        loop = self._loop
        if loop is not None:
            loop.stop()

    def join(self, timeout_s: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("analysis loop did not stop within %.0fs; its batch will be analysed again", timeout_s)
