"""Background processes owned by the dev stack: start, find, stop — only our own.

Each process started here gets a log file ``<runtime>/logs/<name>.log`` (stdout and stderr) and a
pid file ``<runtime>/pids/<name>.json`` recording its pid and exact argv. A pid file alone proves
nothing (pids are reused), so a process counts as ours only while ``/proc/<pid>/cmdline`` still
equals the recorded argv; nothing else is ever signalled.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from devtools.devstack.errors import DevStackError

logger = logging.getLogger(__name__)

PROC_ROOT = Path("/proc")
START_BANNER = "===== starting"  # written to a log file before each start, to find the latest run

# Popen objects of the children this interpreter started, so that stop() can reap them (no zombies
# in long-lived callers such as a test session) and Popen's destructor does not warn.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class PidRecord:
    """What a pid file says: which process we started, with which command line."""

    name: str
    pid: int
    argv: tuple[str, ...]
    started_at: float

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "argv": list(self.argv)}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> PidRecord:
        raw = json.loads(text)
        return cls(
            name=str(raw["name"]),
            pid=int(raw["pid"]),
            argv=tuple(str(a) for a in raw["argv"]),
            started_at=float(raw["started_at"]),
        )


def read_cmdline(pid: int, proc_root: Path = PROC_ROOT) -> tuple[str, ...] | None:
    """The argv of a live process, or None if there is no such process (or it is a zombie)."""
    try:
        raw = (proc_root / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
        return None
    if not raw:  # zombies and kernel threads have an empty command line
        return None
    return tuple(part.decode("utf-8", "surrogateescape") for part in raw.rstrip(b"\0").split(b"\0"))


def is_owned(record: PidRecord, proc_root: Path = PROC_ROOT) -> bool:
    """True while the recorded pid is alive and still runs exactly the command we started."""
    return read_cmdline(record.pid, proc_root) == record.argv


def has_exited(record: PidRecord, proc_root: Path = PROC_ROOT) -> bool:
    """True once the recorded process is gone (or a zombie, or its pid runs another command).

    A process in the middle of exiting already shows an empty command line while it still holds
    its sockets; it counts as gone only when /proc says it has finished. So does a process whose
    main thread has returned while other threads run on (Triton's gRPC threads finishing in-flight
    requests): its main thread shows "Z", but the ports are free only once the last thread is gone.
    """
    cmdline = read_cmdline(record.pid, proc_root)
    if cmdline is not None:
        return cmdline != record.argv
    folder = proc_root / str(record.pid)
    try:
        stat = (folder / "stat").read_text()
        threads = sum(1 for _ in (folder / "task").iterdir())
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return True
    state = stat.rsplit(")", 1)[-1].split()[0:1]
    return state in (["Z"], ["X"]) and threads <= 1


class ProcessSupervisor:
    """Starts and stops the stack's background processes under one runtime folder."""

    def __init__(self, runtime_dir: Path, proc_root: Path = PROC_ROOT) -> None:
        self._logs = runtime_dir / "logs"
        self._pids = runtime_dir / "pids"
        self._proc_root = proc_root

    def log_file(self, name: str) -> Path:
        return self._logs / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self._pids / f"{name}.json"

    def record(self, name: str) -> PidRecord | None:
        """The pid file's record, or None if absent or unreadable."""
        path = self.pid_file(name)
        try:
            return PidRecord.from_json(path.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("unreadable pid file path=%s error=%s", path, exc)
            return None

    def running(self, name: str) -> PidRecord | None:
        """The record of ``name`` if that process is alive and ours, else None."""
        record = self.record(name)
        if record is None:
            return None
        self._reap(record.pid)
        return record if is_owned(record, self._proc_root) else None

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> PidRecord:
        """Start ``argv`` in its own session, output appended to its log file; write its pid file."""
        if self.running(name) is not None:
            raise DevStackError(f"{name} is already running (pid file {self.pid_file(name)})")
        self._logs.mkdir(parents=True, exist_ok=True)
        self._pids.mkdir(parents=True, exist_ok=True)
        log_path = self.log_file(name)
        with log_path.open("ab") as log:
            log.write(f"\n{START_BANNER} {name} at {time.strftime('%Y-%m-%dT%H:%M:%S')} =====\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,  # its own process group: a Ctrl-C in our shell leaves it be
                close_fds=True,
            )
        _children[proc.pid] = proc
        record = PidRecord(name=name, pid=proc.pid, argv=tuple(argv), started_at=time.time())
        self._wait_visible(record, proc)
        tmp = self.pid_file(name).with_suffix(".tmp")
        tmp.write_text(record.to_json())
        tmp.replace(self.pid_file(name))
        logger.info("started name=%s pid=%d log=%s", name, proc.pid, log_path)
        return record

    def _wait_visible(self, record: PidRecord, proc: subprocess.Popen[bytes], timeout_s: float = 2.0) -> None:
        """Wait until /proc shows the new command line (a loaded machine can lag behind exec)."""
        deadline = time.monotonic() + timeout_s
        while not is_owned(record, self._proc_root) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self, name: str, timeout_s: float) -> bool:
        """Stop ``name`` if it is ours: SIGTERM, wait up to ``timeout_s``, then SIGKILL.

        Returns True if a process was stopped. A stale pid file (process gone, or the pid now
        belongs to another command) is removed and nothing is signalled.
        """
        record = self.record(name)
        if record is None:
            return False
        if has_exited(record, self._proc_root):
            # It exited on its own while it was meant to be running: say so, with its last words,
            # so that a crash in the middle of a long run (a test session) is seen where it ends.
            logger.warning("%s; pid file removed", self.death_report(record))
            self.pid_file(name).unlink(missing_ok=True)
            return False
        logger.info("stopping name=%s pid=%d", name, record.pid)
        self._signal(record, signal.SIGTERM)
        if not self._wait_gone(record, timeout_s):
            logger.warning("no exit after %.0fs, killing name=%s pid=%d", timeout_s, name, record.pid)
            self._signal(record, signal.SIGKILL, whole_group=True)
            if not self._wait_gone(record, 5.0):
                raise DevStackError(f"{name} (pid {record.pid}) survived SIGKILL")
        self.pid_file(name).unlink(missing_ok=True)
        _children.pop(record.pid, None)
        return True

    def death_report(self, record: PidRecord, lines: int = 40) -> str:
        """What is known of a recorded process that is no longer running: how it ended, its last words."""
        return (
            f"{record.name} had exited (pid {record.pid}, {exit_description(record.pid)}, "
            f"started {time.strftime('%H:%M:%S', time.localtime(record.started_at))}); "
            f"last lines of {self.log_file(record.name)}:\n{self.log_tail(record.name, lines)}"
        )

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines that ``name`` logged since its latest start."""
        return "\n".join(latest_run(tail_bytes(self.log_file(name), 64 * 1024)).splitlines()[-lines:])

    def latest_run_log(self, name: str, max_bytes: int = 4 * 1024 * 1024) -> str:
        """The log text written since the latest start of ``name`` (at most the last ``max_bytes``)."""
        return latest_run(tail_bytes(self.log_file(name), max_bytes))

    def _signal(self, record: PidRecord, sig: signal.Signals, whole_group: bool = False) -> None:
        # Checked right before every signal: still the process we started, or that process on its
        # way out (no command line, not yet gone: its pid cannot have been reused before it is).
        if has_exited(record, self._proc_root):
            return
        try:
            # Our processes lead their own group (start_new_session); SIGKILL takes the helpers
            # they spawned (e.g. Triton's Python-backend stubs) with them.
            if whole_group and os.getpgid(record.pid) == record.pid:
                os.killpg(record.pid, sig)
            else:
                os.kill(record.pid, sig)
        except ProcessLookupError:
            pass

    def _wait_gone(self, record: PidRecord, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._reap(record.pid)
            if has_exited(record, self._proc_root):
                return True
            time.sleep(0.1)
        return False

    @staticmethod
    def _reap(pid: int) -> None:
        proc = _children.get(pid)
        if proc is not None:
            proc.poll()


def exit_description(pid: int) -> str:
    """How a process this interpreter started ended ("killed by SIGKILL"), as far as it can know."""
    proc = _children.get(pid)
    if proc is None:
        return "exit status unknown: not started by this process"
    code = proc.poll()
    if code is None:
        return "still exiting"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def tail_bytes(path: Path, max_bytes: int) -> str:
    """The last ``max_bytes`` of a text file, decoded ('' if it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - max_bytes))
            return handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    return "\n".join(tail_bytes(path, 64 * 1024).splitlines()[-lines:])


def latest_run(log_text: str) -> str:
    """The part of a log written after the last start banner (all of it if there is none)."""
    index = log_text.rfind(START_BANNER)
    if index < 0:
        return log_text
    newline = log_text.find("\n", index)
    return "" if newline < 0 else log_text[newline + 1 :]
