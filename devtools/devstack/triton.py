"""NVIDIA Triton Inference Server from the nvidia-pytriton wheel, serving our model repository.

The wheel bundles a real ``tritonserver`` with its Python backend. We assemble a backend folder
``<runtime>/triton/backends/python/`` (the backend library, its utils module and the backend stub
built for this interpreter's Python), and start the server with:

* ``LD_LIBRARY_PATH`` = this interpreter's LIBDIR, then the wheel's ``nvidia_pytriton.libs``:
  otherwise the stub binds Debian's system libpython instead of ours and models fail to initialise
  (``'_thread.RLock' object has no attribute '_recursion_count'``), and the copied stub loses its
  relative RPATH to the bundled libraries;
* ``PATH`` with the virtualenv's ``bin`` first, so the stub's interpreter sees the project's
  packages;
* explicit model control with every model loaded at start (``--load-model=*``, or the models
  ``GUARDSTREAM_DEV_TRITON_MODELS`` lists), so that later a new model version, or a model left out,
  can be loaded and unloaded through the repository API.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devtools.devstack.component import SupervisedComponent
from devtools.devstack.errors import DevStackError
from devtools.devstack.probes import http_ok
from devtools.devstack.processes import PROC_ROOT, PidRecord
from devtools.devstack.settings import LOOPBACK, DevStackSettings

logger = logging.getLogger(__name__)

NAME = "triton"
BACKEND_FILES = ("libtriton_python.so", "triton_python_backend_utils.py")
STUB = "triton_python_backend_stub"
SHM_DIR = Path("/dev/shm")
SHM_REGION_PREFIX = "triton_python_backend_shm_region_"


@dataclass(frozen=True)
class TritonDistribution:
    """Where the nvidia-pytriton wheel keeps the server, and which interpreter the stub must match."""

    site_packages: Path
    python_version: str  # "3.11"
    python_libdir: Path
    venv_bin: Path

    @property
    def server_root(self) -> Path:
        return self.site_packages / "pytriton" / "tritonserver"

    @property
    def server_binary(self) -> Path:
        return self.server_root / "bin" / "tritonserver"

    @property
    def bundled_libs(self) -> Path:
        return self.site_packages / "nvidia_pytriton.libs"

    @property
    def stub(self) -> Path:
        return self.server_root / "python_backend_stubs" / self.python_version / STUB


def locate_distribution() -> TritonDistribution:
    """Find the nvidia-pytriton wheel next to this interpreter's packages (without importing it)."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or spec.origin is None:
        raise DevStackError("nvidia-pytriton is not installed in this environment (pip install nvidia-pytriton)")
    libdir = sysconfig.get_config_var("LIBDIR")
    return TritonDistribution(
        site_packages=Path(spec.origin).resolve().parent.parent,
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        python_libdir=Path(libdir) if libdir else Path(sys.base_prefix) / "lib",
        venv_bin=Path(sys.executable).parent,
    )


def backend_dir(settings: DevStackSettings) -> Path:
    """The ``--backend-directory`` we assemble (it holds ``python/``)."""
    return settings.runtime_dir / "triton" / "backends"


def assemble_backends(dist: TritonDistribution, target: Path) -> Path:
    """Copy the Python backend and the stub for our Python version into ``target/python``."""
    sources = [dist.server_root / "backends" / "python" / f for f in BACKEND_FILES] + [dist.stub]
    for source in sources:
        if not source.is_file():
            raise DevStackError(f"the nvidia-pytriton wheel lacks {source} (Python {dist.python_version} unsupported?)")
    python_dir = target / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for source in sources:
        dest = python_dir / source.name
        stat = source.stat()
        if dest.is_file() and dest.stat().st_size == stat.st_size and dest.stat().st_mtime == stat.st_mtime:
            continue
        shutil.copy2(source, dest)
    return target


def server_env(dist: TritonDistribution, base: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: our libpython first on the loader path, our venv first on PATH."""
    env = dict(os.environ if base is None else base)
    loader_path = [str(dist.python_libdir), str(dist.bundled_libs)]
    if env.get("LD_LIBRARY_PATH"):
        loader_path.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = ":".join(loader_path)
    env["PATH"] = f"{dist.venv_bin}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def orphaned_shm_regions(shm_dir: Path = SHM_DIR, proc: Path = PROC_ROOT) -> list[Path]:
    """Python-backend regions no process holds open: a killed server or stub leaves its region behind,
    and each one is memory (tmpfs) until removed. The regions are listed before the processes' open
    files are read, so a region created meanwhile is never among them (its creator holds it from the
    start)."""
    regions = sorted(shm_dir.glob(f"{SHM_REGION_PREFIX}*"))
    if not regions:
        return []
    held: set[str] = set()
    for pid in proc.iterdir():
        if not pid.name.isdigit():
            continue
        try:
            links = list((pid / "fd").iterdir())
        except OSError:  # exited meanwhile, or another user's
            continue
        for link in links:
            try:
                held.add(os.readlink(link))
            except OSError:
                continue
    return [region for region in regions if str(region) not in held]


def remove_orphaned_shm_regions(shm_dir: Path = SHM_DIR, proc: Path = PROC_ROOT) -> None:
    for region in orphaned_shm_regions(shm_dir, proc):
        try:
            region.unlink()
        except OSError as exc:  # another user's, or removed meanwhile
            logger.debug("left %s: %s", region, exc)
            continue
        logger.info("removed a Python-backend region no process holds path=%s", region)


def server_argv(settings: DevStackSettings, dist: TritonDistribution) -> list[str]:
    return [
        str(dist.server_binary),
        f"--model-repository={settings.model_repository}",
        f"--backend-directory={backend_dir(settings)}",
        f"--http-address={LOOPBACK}",
        f"--http-port={settings.triton_http_port}",
        f"--grpc-address={LOOPBACK}",
        f"--grpc-port={settings.triton_grpc_port}",
        f"--metrics-address={LOOPBACK}",
        f"--metrics-port={settings.triton_metrics_port}",
        "--allow-metrics=true",
        "--exit-timeout-secs=5",
        "--model-control-mode=explicit",
        *(f"--load-model={name}" for name in settings.triton_models.split(",")),
        "--strict-readiness=true",
        "--exit-on-error=true",
        "--log-verbose=0",
    ]


_LOAD_FAILURE = re.compile(r"failed to load '(?P<model>[^']+)' version (?P<version>\S+): (?P<reason>.*?)\"?$")


def load_failures(log_text: str) -> list[str]:
    """One line per model version that Triton failed to load: ``guard/1: RuntimeError: …``."""
    failures = []
    for line in log_text.splitlines():
        match = _LOAD_FAILURE.search(line)
        if match:
            reason = match["reason"].replace("\\n", "\n").strip().splitlines()[0]
            failures.append(f"{match['model']}/{match['version']}: {reason}")
    return failures


def model_states(http_url: str, timeout_s: float = 2.0) -> list[dict[str, str]]:
    """Triton's repository index: name, version, state (READY, UNAVAILABLE…) and reason per model."""
    request = urllib.request.Request(f"{http_url}/v2/repository/index", data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return list(json.loads(response.read()))
    except (urllib.error.URLError, OSError, ValueError):
        return []


class TritonServer(SupervisedComponent):
    """The stack's Triton component."""

    name = NAME
    port_variables = "GUARDSTREAM_DEV_TRITON_HTTP_PORT / _GRPC_PORT / _METRICS_PORT"

    @property
    def address(self) -> str:
        return self._settings.triton_http_url

    def ports(self) -> tuple[int, ...]:
        settings = self._settings
        return (settings.triton_http_port, settings.triton_grpc_port, settings.triton_metrics_port)

    def healthy(self) -> bool:
        return http_ok(f"{self.address}/v2/health/ready")

    def start(self) -> PidRecord:
        settings = self._settings
        self.check_ports_free()
        if not settings.model_repository.is_dir():
            raise DevStackError(
                f"model repository {settings.model_repository} does not exist (set GUARDSTREAM_DEV_MODEL_REPOSITORY)"
            )
        dist = locate_distribution()
        assemble_backends(dist, backend_dir(settings))
        remove_orphaned_shm_regions()
        return self._supervisor.start(NAME, server_argv(settings, dist), env=server_env(dist), cwd=settings.runtime_dir)

    def wait_ready(self, record: PidRecord, deadline: float) -> None:
        """Block until /v2/health/ready answers 200; raise with the reasons and log tail otherwise."""
        while time.monotonic() < deadline:
            if self._supervisor.running(NAME) is None:
                raise DevStackError(self._failure_report(f"Triton exited during start-up (pid {record.pid})"))
            if self.healthy():
                return
            time.sleep(0.25)
        not_ready = [m for m in model_states(self.address) if m.get("state") != "READY"]
        raise DevStackError(
            self._failure_report(f"Triton was not ready on {self.address} in time; models not ready: {not_ready}")
        )

    def _failure_report(self, headline: str) -> str:
        failures = load_failures(self._supervisor.latest_run_log(NAME))
        lines = [headline]
        if failures:
            lines.append("models that failed to load:")
            lines.extend(f"  {failure}" for failure in failures)
        lines.append(f"last lines of {self._supervisor.log_file(NAME)}:")
        lines.append(self._supervisor.log_tail(NAME, 15))
        return "\n".join(lines)
