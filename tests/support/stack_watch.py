"""The dev stack watched through a test session: a component that dies is named at the test that saw
it die, with its last words, and started again so that the tests after it test themselves.

`make test` runs some 900 tests against one Kafka, one Triton and one PostgreSQL. Before this, one
crash turned every later stack test into a timeout: an hour of failures that named the symptom
("connection refused") and never the cause. Reports are also appended to ``<runtime>/logs/incidents.log``,
which `make test` empties before its test sessions (the parallel lanes and the exclusive tests append
to one file) and prints last, where a CI log's tail shows it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from devtools.devstack import stack
from devtools.devstack.errors import DevStackError
from devtools.devstack.settings import DevStackSettings

SHARED_MEMORY = Path("/dev/shm")


@dataclass
class StackWatch:
    """The components that were up when the session began, and PostgreSQL's pid as last seen."""

    settings: DevStackSettings
    watched: tuple[str, ...]
    watch_postgres: bool
    postgres_pid: int | None
    start_again: Callable[[DevStackSettings, bool], object]
    began_uptime_s: float = 0.0

    @classmethod
    def begin(
        cls,
        settings: DevStackSettings | None = None,
        start_again: Callable[[DevStackSettings, bool], object] | None = None,
    ) -> StackWatch | None:
        """Watch what runs now; None when nothing of the stack runs (unit tests on their own)."""
        settings = settings or DevStackSettings()
        kafka, triton, postgres = stack.components(settings)
        watched = tuple(component.name for component in (kafka, triton) if component.record() is not None)
        postgres_pid = postgres.pid() if postgres.marker.is_file() else None
        if not watched and postgres_pid is None:
            return None
        return cls(settings, watched, postgres_pid is not None, postgres_pid, start_again or _up, _uptime_s())

    def check(self) -> str | None:
        """None while everything watched runs; else what died and how, after starting it again."""
        kafka, triton, postgres = stack.components(self.settings)
        reports = [c.absence_report() for c in (kafka, triton) if c.name in self.watched and c.record() is None]
        if self.watch_postgres and (self.postgres_pid is None or not psutil.pid_exists(self.postgres_pid)):
            pid = postgres.pid()  # a restart (the chaos suite's database outage) leaves a new server
            if pid is None:
                reports.append(f"postgres (pid {self.postgres_pid}) is not running")
            self.postgres_pid = pid
        if not reports:
            return None
        reports.append(host_state(self.began_uptime_s))
        try:
            self.start_again(self.settings, self.watch_postgres)
            reports.append("the dev stack was started again for the tests that follow")
        except DevStackError as exc:
            reports.append(f"the dev stack could not be started again: {exc}")
        if self.watch_postgres:
            self.postgres_pid = postgres.pid()
        return "\n".join(reports)

    def record(self, test_id: str, report: str) -> None:
        path = incidents_file(self.settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(f"===== during {test_id}\n{report}\n")


def _up(settings: DevStackSettings, with_postgres: bool) -> None:
    stack.up(settings, with_postgres=with_postgres, create_topics=False)


def incidents_file(settings: DevStackSettings) -> Path:
    return settings.logs_dir / "incidents.log"


def host_state(since_uptime_s: float = 0.0) -> str:
    """What the machine says that could explain a death: free memory, shared memory, the kernel's
    kills since ``since_uptime_s`` (seconds after boot, as the kernel's log counts)."""
    lines = [f"MemAvailable: {psutil.virtual_memory().available // 2**20} MiB"]
    if SHARED_MEMORY.is_dir():
        usage = shutil.disk_usage(SHARED_MEMORY)
        lines.append(f"{SHARED_MEMORY}: {usage.used // 2**20} MiB used of {usage.total // 2**20} MiB")
    lines.extend(_kernel_kills(since_uptime_s))
    return "\n".join(lines)


def _uptime_s() -> float:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def _kernel_kills(since_uptime_s: float, lines: int = 10) -> list[str]:
    """The kernel's last lines about killed or crashed processes (the OOM killer, segfaults, bus errors)."""
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ["dmesg: not readable here"]
    wanted = ("oom", "killed process", "segfault", "bus error", "general protection")
    found = [
        line
        for line in out.splitlines()
        if any(word in line.lower() for word in wanted) and _kernel_time(line) >= since_uptime_s
    ]
    return [f"dmesg: {line}" for line in found[-lines:]] or [
        "dmesg: no process killed or crashed since the tests began"
    ]


def _kernel_time(line: str) -> float:
    """The seconds after boot that a kernel log line starts with ("[ 6995.096971] ..."); 0 if none."""
    try:
        return float(line.split("]", 1)[0].lstrip("[ "))
    except ValueError:
        return 0.0
