"""infra/production/*.Dockerfile cannot be built here (no Docker engine): what can be read is checked.

The services' image installs the project's wheel with one role set; the Triton image runs the project's
Python backend on Python 3.11 through a stub built for it, from the same Triton release the dev stack
runs, and renders the model repository for the GPU.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from guardstream.paths import repository_root

ROOT = repository_root()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SERVICES = (ROOT / "infra" / "production" / "guardstream.Dockerfile").read_text(encoding="utf-8")
TRITON = (ROOT / "infra" / "production" / "triton.Dockerfile").read_text(encoding="utf-8")
# NGC's monthly Triton images and the server release each ships (NVIDIA's framework support matrix)
NGC_RELEASE_OF_SERVER = {"2.51": "24.10", "2.52": "24.11", "2.53": "24.12"}
# The server nvidia-pytriton bundles (`guardstream dev up` runs it; ENVIRONMENT.md)
SERVER_OF_PYTRITON = {"0.7.0": "2.51"}


def _instructions(dockerfile: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    return [part.strip() for part in re.split(r"\n(?=[A-Z]+ )", "\n".join(lines).replace("\\\n", " ")) if part.strip()]


def _arg(dockerfile: str, name: str) -> str:
    [value] = re.findall(rf"^ARG {name}=(\S+)$", dockerfile, re.MULTILINE)
    return value


@pytest.mark.parametrize("dockerfile", [SERVICES, TRITON], ids=["services", "triton"])
def test_every_copied_path_is_in_the_build_context_and_no_built_weights_are(dockerfile: str) -> None:
    for instruction in _instructions(dockerfile):
        if instruction.startswith("COPY ") and "--from=" not in instruction:
            for source in instruction.split()[1:-1]:
                assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "triton_models/*/*/checkpoint" in ignored


def test_the_services_image_installs_the_wheel_with_one_role_set_pinned_and_overridden() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert _arg(SERVICES, "EXTRAS") == "services"
    assert set(re.findall(r"guardstream\[([\w,-]+)\]", extras["services"][0])[0].split(",")) == {
        "worker",
        "review",
        "escalation",
    }
    python = re.search(r"python:(\d+\.\d+)", _arg(SERVICES, "PYTHON_IMAGE"))
    assert python is not None and python.group(1) == "3.11"
    assert PYPROJECT["project"]["requires-python"] == ">=3.11,<3.12"
    [install] = [i for i in _instructions(SERVICES) if "uv pip install" in i]
    assert '"guardstream[${EXTRAS}] @ file://${wheel}"' in install
    assert "-c /opt/guardstream/pins/constraints.txt" in install
    assert "--override /opt/guardstream/pins/overrides.txt" in install
    assert "uv build --wheel" in SERVICES
    assert "pip install --no-cache-dir -c constraints.txt ." not in SERVICES  # the old install of everything
    assert SERVICES.rstrip().endswith('CMD ["worker"]')


def test_the_triton_image_is_the_release_the_dev_stack_runs() -> None:
    [pytriton] = [d for d in PYPROJECT["project"]["optional-dependencies"]["dev"] if d.startswith("nvidia-pytriton==")]
    pinned = pytriton.split("==")[1]
    assert version("nvidia-pytriton") == pinned
    release = NGC_RELEASE_OF_SERVER[SERVER_OF_PYTRITON[pinned]]
    assert _arg(TRITON, "TRITON_RELEASE") == release
    assert "FROM nvcr.io/nvidia/tritonserver:${TRITON_RELEASE}-py3-min AS stub" in TRITON
    assert re.search(r"^FROM nvcr\.io/nvidia/tritonserver:\$\{TRITON_RELEASE\}-py3$", TRITON, re.MULTILINE)


def test_the_triton_image_builds_the_python_backend_stub_for_python_3_11_and_serves_with_it() -> None:
    assert _arg(TRITON, "PYTHON_VERSION").startswith("3.11.")
    [build] = [i for i in _instructions(TRITON) if "python_backend" in i and "cmake" in i]
    assert '--branch "r${TRITON_RELEASE}" https://github.com/triton-inference-server/python_backend' in build
    for repo in ("BACKEND", "COMMON", "CORE"):
        assert f'-DTRITON_{repo}_REPO_TAG="r${{TRITON_RELEASE}}"' in build
    assert "-DPYTHON_EXECUTABLE=/opt/python/3.11/bin/python3.11" in build
    assert "--target triton-python-backend-stub" in build
    assert "ldd /build/python_backend/build/triton_python_backend_stub | grep -q 'libpython3\\.11'" in build
    stub = "COPY --from=stub /build/python_backend/build/triton_python_backend_stub /opt/tritonserver/backends/python/triton_python_backend_stub"
    assert stub in _instructions(TRITON)
    assert "PYTHONHOME=/opt/python/3.11" in TRITON and "LD_LIBRARY_PATH=/opt/python/3.11/lib" in TRITON


def test_the_triton_image_installs_the_backend_into_that_interpreter_and_renders_the_repository_for_the_gpu() -> None:
    [install] = [i for i in _instructions(TRITON) if "render-repository" in i]
    assert "--python /opt/python/3.11/bin/python3.11" in install
    assert '"guardstream[triton-backend] @ file://' in install
    assert "--override /opt/guardstream/pins/overrides.txt" in install
    assert "/opt/python/3.11/bin/guardstream model render-repository --out /models" in install
    assert "--device cpu" not in install
    assert _arg(TRITON, "GUARDSTREAM_SERVING__DEVICE") == "cuda"
    assert re.search(r'^CMD \["tritonserver", "--model-repository=/models"', TRITON, re.MULTILINE)
    assert Path(ROOT / "overrides.txt").is_file()
