from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from devtools.devstack.probes import port_open
from devtools.devstack.processes import (
    PidRecord,
    ProcessSupervisor,
    exit_description,
    has_exited,
    is_owned,
    latest_run,
    read_cmdline,
)

SLEEPER = (sys.executable, "-c", "import time; time.sleep(60)")


def _fake_proc(root: Path, pid: int, cmdline: bytes, state: str = "S", threads: int = 1) -> None:
    folder = root / str(pid)
    folder.mkdir(parents=True)
    (folder / "cmdline").write_bytes(cmdline)
    (folder / "stat").write_text(f"{pid} (some cmd) {state} 1 1 1")
    for thread in range(threads):
        (folder / "task" / str(pid + thread)).mkdir(parents=True)


def test_pid_record_round_trips_through_json() -> None:
    record = PidRecord(name="kafka", pid=42, argv=("java", "-cp", "x"), started_at=1.5)
    assert PidRecord.from_json(record.to_json()) == record


def test_ownership_needs_the_exact_recorded_command_line(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 100, b"java\0-cp\0libs/*\0kafka.Kafka\0")
    _fake_proc(tmp_path, 101, b"bash\0")
    ours = PidRecord(name="kafka", pid=100, argv=("java", "-cp", "libs/*", "kafka.Kafka"), started_at=0)
    reused = PidRecord(name="kafka", pid=101, argv=ours.argv, started_at=0)
    gone = PidRecord(name="kafka", pid=102, argv=ours.argv, started_at=0)
    assert read_cmdline(100, tmp_path) == ours.argv
    assert is_owned(ours, tmp_path)
    assert not is_owned(reused, tmp_path)
    assert not is_owned(gone, tmp_path)


def test_an_exiting_process_is_not_gone_until_it_is_a_zombie(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 200, b"", state="S")  # exiting: memory released, still holds sockets
    _fake_proc(tmp_path, 201, b"", state="Z")
    argv = ("tritonserver",)
    assert not has_exited(PidRecord("triton", 200, argv, 0), tmp_path)
    assert has_exited(PidRecord("triton", 201, argv, 0), tmp_path)
    assert has_exited(PidRecord("triton", 202, argv, 0), tmp_path)


def test_a_process_whose_main_thread_returned_is_not_gone_while_a_thread_runs(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 300, b"", state="Z", threads=3)
    assert not has_exited(PidRecord("triton", 300, ("tritonserver",), 0), tmp_path)


def test_stop_kills_a_process_whose_threads_outlive_its_main_thread_and_frees_its_port(tmp_path: Path) -> None:
    """Triton after SIGTERM: the main thread has returned, gRPC threads still hold the port.

    Before, /proc's zombie main thread counted as 'exited': SIGKILL was never sent, stop() returned
    with the port still taken, and the restart that followed failed with 'port(s) taken'.
    """
    lingering = (
        sys.executable,
        "-c",
        "import ctypes, signal, socket, threading, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "server = socket.create_server(('127.0.0.1', 0))\n"
        "print('port', server.getsockname()[1], flush=True)\n"
        "threading.Thread(target=time.sleep, args=(60,)).start()\n"
        "ctypes.CDLL(None).pthread_exit(None)\n",
    )
    supervisor = ProcessSupervisor(tmp_path)
    record = supervisor.start("lingering", lingering)
    _wait_for_text(supervisor, "lingering", "port ")
    port = int(supervisor.log_tail("lingering").split("port ")[1].split()[0])
    while read_cmdline(record.pid) is not None:  # the main thread has yet to return
        time.sleep(0.01)
    assert not has_exited(record) and port_open("127.0.0.1", port)
    assert supervisor.stop("lingering", timeout_s=0.5) is True
    assert has_exited(record) and not port_open("127.0.0.1", port)


def test_stale_pid_file_is_removed_without_signalling_anyone(tmp_path: Path) -> None:
    supervisor = ProcessSupervisor(tmp_path)
    supervisor.pid_file("kafka").parent.mkdir(parents=True)
    # our own pid, recorded with another command line: a reused pid that must survive
    stale = PidRecord(name="kafka", pid=os.getpid(), argv=("java", "kafka.Kafka"), started_at=0)
    supervisor.pid_file("kafka").write_text(stale.to_json())
    assert supervisor.running("kafka") is None
    assert supervisor.stop("kafka", timeout_s=1) is False
    assert not supervisor.pid_file("kafka").exists()


def test_started_process_is_found_then_stopped_and_forgotten(tmp_path: Path) -> None:
    supervisor = ProcessSupervisor(tmp_path)
    record = supervisor.start("sleeper", SLEEPER)
    try:
        assert supervisor.running("sleeper") == record, f"/proc shows {read_cmdline(record.pid)!r}"
        assert supervisor.log_file("sleeper").is_file()
    finally:
        assert supervisor.stop("sleeper", timeout_s=5) is True
    assert supervisor.running("sleeper") is None
    assert not supervisor.pid_file("sleeper").exists()
    assert supervisor.stop("sleeper", timeout_s=5) is False


def test_a_process_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    stubborn = (
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)",
    )
    supervisor = ProcessSupervisor(tmp_path)
    supervisor.start("stubborn", stubborn)
    _wait_for_text(supervisor, "stubborn", "ready")
    assert supervisor.stop("stubborn", timeout_s=0.5) is True
    assert supervisor.running("stubborn") is None


def test_a_process_that_died_on_its_own_is_reported_with_its_last_words_when_stopped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = ProcessSupervisor(tmp_path)
    record = supervisor.start(
        "crasher", (sys.executable, "-c", "print('out of shared memory', flush=True); raise SystemExit(3)")
    )
    _wait_for_text(supervisor, "crasher", "out of shared memory")
    while not has_exited(record):
        supervisor.running("crasher")  # reaps it
    with caplog.at_level(logging.WARNING, logger="devtools.devstack.processes"):
        assert supervisor.stop("crasher", timeout_s=1) is False
    assert "crasher had exited" in caplog.text and "exit code 3" in caplog.text
    assert "out of shared memory" in caplog.text
    assert not supervisor.pid_file("crasher").exists()


def test_a_process_killed_by_a_signal_is_reported_with_the_signal(tmp_path: Path) -> None:
    supervisor = ProcessSupervisor(tmp_path)
    record = supervisor.start("victim", SLEEPER)
    os.kill(record.pid, signal.SIGBUS)
    while not has_exited(record):
        supervisor.running("victim")  # reaps it
    assert "killed by SIGBUS" in supervisor.death_report(record)


def test_a_process_started_elsewhere_has_an_unknown_exit_status() -> None:
    assert exit_description(os.getpid()) == "exit status unknown: not started by this process"


def test_log_tail_shows_only_the_latest_run(tmp_path: Path) -> None:
    supervisor = ProcessSupervisor(tmp_path)
    for word in ("first-run", "second-run"):
        supervisor.start("echo", (sys.executable, "-c", f"print('{word}', flush=True)"))
        _wait_for_text(supervisor, "echo", word)
        supervisor.stop("echo", timeout_s=5)
    assert "second-run" in supervisor.log_tail("echo")
    assert "first-run" not in supervisor.log_tail("echo")


def test_latest_run_without_banner_is_the_whole_text() -> None:
    assert latest_run("a\nb\n") == "a\nb\n"


def _wait_for_text(supervisor: ProcessSupervisor, name: str, text: str) -> None:
    deadline = time.monotonic() + 10
    while text not in supervisor.log_tail(name):
        assert time.monotonic() < deadline, f"{name} never logged {text!r}"
        time.sleep(0.05)
