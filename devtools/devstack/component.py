"""What every process the dev stack supervises shares: its pid record, its ports, stopping it."""

from __future__ import annotations

from devtools.devstack.errors import DevStackError
from devtools.devstack.probes import busy_ports
from devtools.devstack.processes import PidRecord, ProcessSupervisor
from devtools.devstack.settings import LOOPBACK, DevStackSettings


class SupervisedComponent:
    """A component started as a background process; subclasses name it and its ports."""

    name: str
    port_variables: str
    """The GUARDSTREAM_DEV_* variables that move its ports, for the error message."""

    def __init__(self, settings: DevStackSettings, supervisor: ProcessSupervisor) -> None:
        self._settings = settings
        self._supervisor = supervisor

    def ports(self) -> tuple[int, ...]:
        raise NotImplementedError

    def record(self) -> PidRecord | None:
        return self._supervisor.running(self.name)

    def check_ports_free(self) -> None:
        """Raise if another process holds the component's ports (checked before anything starts)."""
        busy = busy_ports(LOOPBACK, self.ports())
        if busy:
            raise DevStackError(
                f"port(s) {busy} taken by a process the dev stack did not start; stop it or set {self.port_variables}"
            )

    def stop(self) -> bool:
        return self._supervisor.stop(self.name, self._settings.stop_timeout_s)

    def absence_report(self, lines: int = 25) -> str:
        """Why the component is not running, with its last words (for one that is meant to be)."""
        record = self._supervisor.record(self.name)
        if record is not None:
            return self._supervisor.death_report(record, lines)
        return (
            f"{self.name} is not running and has no pid file: something stopped it (`dev down`, a restart "
            f"that failed) and did not start it again; last lines of {self._supervisor.log_file(self.name)}:\n"
            f"{self._supervisor.log_tail(self.name, lines)}"
        )
