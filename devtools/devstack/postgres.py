"""A project-owned PostgreSQL cluster from Debian's packages (``15/guardstream`` by default).

Debian's postgresql-common wrappers do the work and run the server as the ``postgres`` user
(PostgreSQL refuses to run as root): ``pg_createcluster`` once, ``pg_ctlcluster … start|stop``.
The cluster listens on 127.0.0.1 at its own port and holds the role and database ``guardstream``
(password ``guardstream``). ``up`` leaves a marker when it started the cluster; ``down`` stops the
cluster only when that marker is there, so a cluster someone else started is left alone.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devtools.devstack.errors import DevStackError
from devtools.devstack.probes import port_open
from devtools.devstack.settings import LOOPBACK, DevStackSettings

logger = logging.getLogger(__name__)

NAME = "postgres"
ROLE = "guardstream"
DATABASE = "guardstream"
PASSWORD = "guardstream"  # a throwaway local dev credential, bound to 127.0.0.1


def _run(argv: Sequence[str], *, check: bool = True, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        check=False,
        cwd="/",  # the postgres user may not be able to enter the caller's folder
        timeout=timeout_s,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if check and result.returncode != 0:
        raise DevStackError(f"`{' '.join(argv)}` failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def provisioning_sql() -> str:
    """Idempotent SQL that creates the project's role (run as the superuser)."""
    return (
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN "
        f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'; "
        "END IF; END $$;"
    )


class PostgresCluster:
    """The stack's PostgreSQL component."""

    name = NAME

    def __init__(self, settings: DevStackSettings) -> None:
        self._settings = settings
        self._version = str(settings.postgres_version)
        self._cluster = settings.postgres_cluster

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self._settings.postgres_port}"

    @property
    def url(self) -> str:
        return self._settings.postgres_url

    @property
    def bin_dir(self) -> Path:
        return Path(f"/usr/lib/postgresql/{self._version}/bin")

    @property
    def marker(self) -> Path:
        """Written by ``up`` when it started the cluster; ``down`` stops only then."""
        return self._settings.pids_dir / f"{NAME}.started"

    # ----------------------------------------------------------------- state
    def info(self) -> dict[str, Any] | None:
        """pg_lsclusters' description of our cluster, or None if it does not exist (or no Debian tools)."""
        if not self.bin_dir.is_dir():
            return None
        try:
            result = _run(["pg_lsclusters", "--json"], check=False, timeout_s=20)
        except FileNotFoundError:
            return None
        if result.returncode != 0:
            return None
        for cluster in json.loads(result.stdout or "[]"):
            if str(cluster.get("version")) == self._version and cluster.get("cluster") == self._cluster:
                return dict(cluster)
        return None

    def pid(self) -> int | None:
        info = self.info()
        if not info or not info.get("running"):
            return None
        try:
            return int((Path(str(info["pgdata"])) / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def healthy(self) -> bool:
        if not port_open(LOOPBACK, self._settings.postgres_port):
            return False
        import psycopg

        try:
            with psycopg.connect(self._libpq_url(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Install PostgreSQL if missing, create the cluster once, start it."""
        self._ensure_installed()
        info = self.info()
        if info is None:
            if port_open(LOOPBACK, self._settings.postgres_port):
                raise DevStackError(
                    f"port {self._settings.postgres_port} is taken by a process the dev stack did not start; "
                    "stop it or set GUARDSTREAM_DEV_POSTGRES_PORT"
                )
            logger.info(
                "creating PostgreSQL cluster %s/%s port=%d", self._version, self._cluster, self._settings.postgres_port
            )
            _run(
                [
                    "pg_createcluster", self._version, self._cluster,
                    "--port", str(self._settings.postgres_port),
                    "--start-conf", "manual",  # never started at boot; `guardstream dev up` starts it
                ]
            )  # fmt: skip
            info = self.info()
            if info is None:
                raise DevStackError(f"pg_createcluster did not create {self._version}/{self._cluster}")
        if str(info.get("port")) != str(self._settings.postgres_port):
            raise DevStackError(
                f"cluster {self._version}/{self._cluster} listens on port {info.get('port')}, not "
                f"{self._settings.postgres_port}: set GUARDSTREAM_DEV_POSTGRES_PORT={info.get('port')} or "
                f"drop it with `pg_dropcluster --stop {self._version} {self._cluster}`"
            )
        if info.get("running"):
            return
        _run(["pg_ctlcluster", self._version, self._cluster, "start"])
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(f"{self._version}/{self._cluster}\n")
        logger.info("started PostgreSQL cluster %s/%s", self._version, self._cluster)

    def wait_ready(self, deadline: float) -> None:
        """Wait until the server accepts connections, then make sure role and database exist."""
        while not self._accepting():
            if time.monotonic() >= deadline:
                raise DevStackError(
                    f"PostgreSQL did not accept connections on {self.address} in time; see "
                    f"/var/log/postgresql/postgresql-{self._version}-{self._cluster}.log"
                )
            time.sleep(0.25)
        self._provision()
        while not self.healthy():
            if time.monotonic() >= deadline:
                raise DevStackError(f"PostgreSQL refused {ROLE}@{self.address}/{DATABASE} in time")
            time.sleep(0.25)

    def stop(self) -> bool:
        """Stop the cluster if ``up`` started it (the marker says so)."""
        if not self.marker.is_file():
            return False
        info = self.info()
        if info is not None and info.get("running"):
            logger.info("stopping PostgreSQL cluster %s/%s", self._version, self._cluster)
            _run(["pg_ctlcluster", self._version, self._cluster, "stop", "--", "-m", "fast"])
        self.marker.unlink(missing_ok=True)
        return True

    # ----------------------------------------------------------------- helpers
    def _libpq_url(self) -> str:
        return self.url.replace("postgresql+psycopg://", "postgresql://", 1)

    def _accepting(self) -> bool:
        result = _run(
            ["pg_isready", "-q", "-h", LOOPBACK, "-p", str(self._settings.postgres_port)], check=False, timeout_s=10
        )
        return result.returncode == 0

    def _psql(self, sql: str) -> str:
        result = _run(
            [
                "runuser", "-u", "postgres", "--",
                "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA",
                "-h", "/var/run/postgresql", "-p", str(self._settings.postgres_port),
                "-d", "postgres", "-c", sql,
            ]
        )  # fmt: skip
        return result.stdout.strip()

    def _provision(self) -> None:
        self._psql(provisioning_sql())
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'") != "1":
            self._psql(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
            logger.info("created database %s owned by %s", DATABASE, ROLE)

    def _ensure_installed(self) -> None:
        if self.bin_dir.is_dir():
            return
        logger.info("installing Debian's postgresql package (apt-get)")
        install = ["apt-get", "install", "-y", "postgresql"]
        if _run(install, check=False, timeout_s=600).returncode != 0:
            _run(["apt-get", "update"], timeout_s=600)
            _run(install, timeout_s=600)
        if not self.bin_dir.is_dir():
            raise DevStackError(f"installing PostgreSQL did not provide {self.bin_dir}")
