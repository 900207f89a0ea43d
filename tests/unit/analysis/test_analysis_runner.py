"""The runner keeps an analysis loop going: a failed loop is replaced, stop ends it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from guardstream.errors import ConfigurationError
from workers.analysis.app import AnalysisRunner
from workers.retry import Backoff
from workers.transactions import ProducerFencedError


@dataclass
class FakeLoop:
    failure: Exception | None = None
    stopped: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        self.started.set()
        if self.failure is not None:
            raise self.failure
        self.stopped.wait(10)

    def stop(self) -> None:
        self.stopped.set()


def test_a_failed_loop_is_replaced_by_a_fresh_one_and_stop_ends_the_runner() -> None:
    loops = [FakeLoop(ProducerFencedError("fenced")), FakeLoop(RuntimeError("broker gone")), FakeLoop()]
    built = iter(loops)
    runner = AnalysisRunner(lambda: next(built), Backoff(0.001, 0.002))  # type: ignore[arg-type, return-value]
    runner.start()
    assert loops[2].started.wait(5)
    runner.stop()
    runner.join(5)
    assert loops[2].stopped.is_set()
    assert all(loop.started.is_set() for loop in loops)


def test_a_configuration_error_ends_the_runner_without_retrying() -> None:
    attempts: list[int] = []

    def build() -> FakeLoop:
        attempts.append(1)
        raise ConfigurationError("kafka.sasl_username is missing")

    runner = AnalysisRunner(build, Backoff(0.001, 0.002))  # type: ignore[arg-type]
    runner.run()
    assert attempts == [1]
