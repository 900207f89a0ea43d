"""The workers of a chaos run: real ``guardstream worker`` processes, killed and restarted at will,
with their resident memory sampled every second."""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from devtools.demo.replay import WorkerProcess

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RssSample:
    at: float
    pid: int
    rss_mb: float


@dataclass
class Fleet:
    """Workers sharing one consumer group; each name is a stable worker id (its transactional id)."""

    env: dict[str, str]
    log_dir: Path
    workers: dict[str, WorkerProcess] = field(default_factory=dict)
    unexpected_exits: list[str] = field(default_factory=list)
    killed: int = 0
    samples: list[RssSample] = field(default_factory=list)
    _expected_dead: set[int] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None

    def start(self, worker_id: str) -> WorkerProcess:
        worker = WorkerProcess(worker_id, self.log_dir / f"{worker_id}.log", self.env)
        self.workers[worker_id] = worker
        log.info("started worker id=%s pid=%d", worker_id, worker.process.pid)
        return worker

    def kill9(self, worker_id: str) -> None:
        """SIGKILL: no drain, no abort, no goodbye to the group."""
        worker = self.workers[worker_id]
        self._expected_dead.add(worker.process.pid)
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(30)
        self.killed += 1
        log.info("killed -9 worker id=%s pid=%d", worker_id, worker.process.pid)

    def restart(self, worker_id: str) -> WorkerProcess:
        """A new process with the same id: its init_transactions fences what the old one left open."""
        return self.start(worker_id)

    def check_alive(self) -> None:
        """Record workers that died without being killed by the run (a fault it did not survive)."""
        for worker_id, worker in self.workers.items():
            pid = worker.process.pid
            if not worker.alive() and pid not in self._expected_dead:
                self._expected_dead.add(pid)
                self.unexpected_exits.append(f"{worker_id} (pid {pid}) exited {worker.process.returncode}")
                log.warning(
                    "worker exited unexpectedly id=%s code=%s log=%s",
                    worker_id,
                    worker.process.returncode,
                    worker.log_path,
                )

    def stop_all(self) -> list[int]:
        """SIGTERM every live worker (it drains and commits); returns their exit codes."""
        self.check_alive()
        codes = []
        for worker in self.workers.values():
            if worker.alive():
                self._expected_dead.add(worker.process.pid)
                codes.append(worker.stop(90))
        return codes

    # ── memory ──────────────────────────────────────────────────────────────────────────────
    def start_sampling(self, interval_s: float = 1.0) -> None:
        self._sampler = threading.Thread(target=self._sample, args=(interval_s,), daemon=True)
        self._sampler.start()

    def stop_sampling(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(5)

    @property
    def peak_rss_mb(self) -> float:
        return max((sample.rss_mb for sample in self.samples), default=0.0)

    def _sample(self, interval_s: float) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for worker in list(self.workers.values()):
                if not worker.alive():
                    continue
                try:
                    rss = psutil.Process(worker.process.pid).memory_info().rss
                except psutil.Error:
                    continue
                self.samples.append(RssSample(now, worker.process.pid, rss / (1024 * 1024)))
            self._stop.wait(interval_s)
