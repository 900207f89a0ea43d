from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from devtools.devstack.processes import ProcessSupervisor, has_exited
from devtools.devstack.settings import DevStackSettings
from tests.support.stack_watch import StackWatch, _kernel_time, host_state, incidents_file

SLEEPER = (sys.executable, "-c", "print('serving', flush=True); import time; time.sleep(60)")


def test_nothing_running_means_nothing_to_watch(tmp_path: Path) -> None:
    assert StackWatch.begin(DevStackSettings(runtime_dir=tmp_path)) is None


def test_a_component_killed_during_a_test_is_reported_with_its_signal_and_last_words_then_started_again(
    tmp_path: Path,
) -> None:
    settings = DevStackSettings(runtime_dir=tmp_path)
    supervisor = ProcessSupervisor(tmp_path)
    record = supervisor.start("triton", SLEEPER)
    started: list[bool] = []
    watch = StackWatch.begin(settings, start_again=lambda _settings, with_postgres: started.append(with_postgres))
    assert watch is not None and watch.watched == ("triton",)
    try:
        assert watch.check() is None and started == []
        while "serving" not in supervisor.log_tail("triton"):
            assert not has_exited(record)
        os.kill(record.pid, signal.SIGKILL)
        while not has_exited(record):
            supervisor.running("triton")  # reaps it
        report = watch.check()
    finally:
        supervisor.stop("triton", timeout_s=5)
    assert report is not None
    assert "triton had exited" in report and "killed by SIGKILL" in report and "serving" in report
    assert "MemAvailable" in report and "started again" in report
    assert started == [False]
    watch.record("tests/x.py::test_y", report)
    assert "===== during tests/x.py::test_y\ntriton had exited" in incidents_file(settings).read_text()


def test_a_component_stopped_and_not_started_again_is_reported(tmp_path: Path) -> None:
    settings = DevStackSettings(runtime_dir=tmp_path)
    supervisor = ProcessSupervisor(tmp_path)
    supervisor.start("kafka", SLEEPER)
    watch = StackWatch.begin(settings, start_again=lambda _settings, _with_postgres: None)
    assert watch is not None
    supervisor.stop("kafka", timeout_s=5)
    report = watch.check()
    assert report is not None and "kafka is not running and has no pid file" in report


def test_host_state_names_memory_and_shared_memory() -> None:
    state = host_state()
    assert state.startswith("MemAvailable: ") and "dmesg" in state


def test_kernel_lines_from_before_the_tests_began_are_left_out() -> None:
    assert _kernel_time("[ 6995.096971] triton_python_b[19469]: segfault at 7fc836500163") == 6995.096971
    assert host_state(since_uptime_s=float("inf")).splitlines()[-1] in (
        "dmesg: no process killed or crashed since the tests began",
        "dmesg: not readable here",
    )
