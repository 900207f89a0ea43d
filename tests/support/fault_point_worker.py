"""A real moderation worker that kills itself with SIGKILL at one chosen point of its first commit.

``python -m tests.support.fault_point_worker POINT MARKER worker-options...`` runs ``guardstream
worker`` with hooks around the sink's steps (nothing in the worker knows of them):

* ``audit_written``: the batch's audit rows are written, the Kafka transaction not yet begun;
* ``records_sent``: the transaction is open and its verdicts are on the broker (flushed), the
  consumed offsets not yet added;
* ``offsets_sent``: the offsets are added to the open transaction too; only the commit is missing.

Before it dies the worker writes MARKER (JSON): the point, the event ids of the batch it was
committing, and how many records it had produced in the open transaction, so a test can prove that
the kill landed where it was meant to.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import workers.moderation.app as app_wiring
import workers.moderation.sink as sink_module
from workers.cli.main import app

POINTS = ("audit_written", "records_sent", "offsets_sent")


class FaultPoint:
    def __init__(self, point: str, marker: Path) -> None:
        if point not in POINTS:
            raise SystemExit(f"unknown fault point {point!r}; choose one of {', '.join(POINTS)}")
        self.point = point
        self.marker = marker
        self.batch_event_ids: list[str] = []
        self.produced = 0

    def reached(self, point: str) -> None:
        if point != self.point or not self.batch_event_ids:  # a commit of positions alone is no test
            return
        self.marker.write_text(
            json.dumps({"point": point, "event_ids": self.batch_event_ids, "produced": self.produced}), encoding="utf-8"
        )
        os.kill(os.getpid(), signal.SIGKILL)


class ProducerAtFault:
    """Delegates to the worker's transactional producer; stops the process at the armed point."""

    def __init__(self, producer: Any, fault: FaultPoint) -> None:
        self._producer = producer
        self._fault = fault

    def begin_transaction(self, *args: Any) -> Any:
        self._fault.produced = 0
        return self._producer.begin_transaction(*args)

    def produce(self, *args: Any, **kwargs: Any) -> Any:
        self._fault.produced += 1
        return self._producer.produce(*args, **kwargs)

    def send_offsets_to_transaction(self, *args: Any) -> Any:
        self._producer.flush(30)
        self._fault.reached("records_sent")
        return self._producer.send_offsets_to_transaction(*args)

    def commit_transaction(self, *args: Any) -> Any:
        self._producer.flush(30)
        self._fault.reached("offsets_sent")
        return self._producer.commit_transaction(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)


def arm(fault: FaultPoint) -> None:
    build_producer = app_wiring.build_transactional_producer
    write_isolating = sink_module.write_isolating

    def producer_at_fault(*args: Any, **kwargs: Any) -> Any:
        return ProducerAtFault(build_producer(*args, **kwargs), fault)

    def write_then_maybe_die(audit: Any, outputs: Any, *args: Any) -> None:
        fault.batch_event_ids = [event.event_id for _, event, _ in outputs.verdicts]
        write_isolating(audit, outputs, *args)
        fault.reached("audit_written")

    app_wiring.build_transactional_producer = producer_at_fault  # type: ignore[assignment]  # the hook under test
    sink_module.write_isolating = write_then_maybe_die  # type: ignore[assignment]  # the hook under test


def main() -> None:
    point, marker, *worker_options = sys.argv[1:]
    arm(FaultPoint(point, Path(marker)))
    app(["worker", *worker_options])


if __name__ == "__main__":
    main()
