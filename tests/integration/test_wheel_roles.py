"""The built wheel, installed per role into a fresh virtualenv outside the checkout, starts that role.

One wheel is built from a copy of the sources; each extra goes into its own virtualenv with uv, from
uv's cache and hard-linked (seconds, even for torch), pinned by constraints.txt. Every command runs in
a folder outside the checkout with nothing of the checkout on the path, so whatever it imports comes
from the wheel: a module, a schema or a model file the wheel lacks, or a package an extra forgot,
fails here. Each role's ``--check`` then reaches the dev stack with its real settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardstream.paths import repository_root
from guardstream.settings import Settings
from tests.support.package_sources import copy_package_sources

# Two lanes of make test: the services' extras, and the torch extras (each lane builds the wheel once)
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("wheel-services")]

ROOT = repository_root()
UV = str(Path(sys.executable).with_name("uv"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    copy_package_sources(source)
    run([UV, "build", "--wheel", "--offline", "--out-dir", str(tmp / "dist"), str(source)], cwd=tmp)
    [built] = (tmp / "dist").glob("guardstream-*.whl")
    return built


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder that is not the checkout (and not under it)."""
    folder = tmp_path_factory.mktemp("outside")
    assert ROOT not in folder.resolve().parents
    return folder


@pytest.fixture(scope="module")
def stack_env(base_settings: Settings, postgres_url: str, triton_ready: None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDSTREAM_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS=base_settings.kafka.bootstrap_servers,
        GUARDSTREAM_TRITON__GRPC_URL=base_settings.triton.grpc_url,
        GUARDSTREAM_AUDIT__URL=postgres_url,
    )
    return env


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def install(wheel: Path, extra: str, where: Path) -> Path:
    """guardstream[extra] from the wheel into the virtualenv under ``where`` (made fresh when missing),
    as the images install it: pinned by constraints.txt, whose click faust-streaming's bound gives way
    to (overrides.txt). Returns its bin folder."""
    venv = where / "venv"
    env = {**os.environ, "UV_LINK_MODE": "hardlink"}
    if not venv.exists():
        run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=where, env=env)
    command = [UV, "pip", "install", "--quiet", "--offline", "--python", str(venv / "bin" / "python")]
    command += ["-c", str(ROOT / "constraints.txt"), "--override", str(ROOT / "overrides.txt")]
    command += [f"guardstream[{extra}] @ {wheel.as_uri()}"]
    run(command, cwd=where, env=env)
    return venv / "bin"


def from_the_wheel(bin_dir: Path, where: Path, env: dict[str, str]) -> None:
    """guardstream, its schemas and its model sources come from the virtualenv, not the checkout."""
    probe = (
        "import guardstream, workers; "
        "from guardstream.serde.schemas import default_schema_set; "
        "from guardstream.guard.model_repository import source_repository; "
        "print(guardstream.__file__, workers.__file__, default_schema_set().directory, source_repository())"
    )
    paths = run([str(bin_dir / "python"), "-c", probe], cwd=where, env=env).split()
    venv = bin_dir.parent.resolve()
    assert all(venv in Path(path).resolve().parents for path in paths), paths


def check(bin_dir: Path, role: list[str], where: Path, env: dict[str, str]) -> None:
    output = run([str(bin_dir / "guardstream"), *role, "--check"], cwd=where, env=env, timeout=120)
    assert "ready to start" in output, output


@pytest.fixture()
def venvs(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # Hard links cost no space but many inodes (tens of thousands for torch): removed in the background,
    # which takes seconds the test need not wait for
    subprocess.Popen(["rm", "-rf", str(tmp_path)], start_new_session=True)


def test_the_worker_extra_starts_the_worker_the_stream_worker_and_the_analysis_loop(
    wheel: Path, outside: Path, stack_env: dict[str, str], venvs: Path
) -> None:
    bin_dir = install(wheel, "worker", venvs)
    from_the_wheel(bin_dir, outside, stack_env)
    for role in (["worker"], ["stream-worker"], ["analysis"]):
        check(bin_dir, role, outside, stack_env)
    # the blocklist matcher's libraries, and its lexicon: jieba's dict.txt, read as package data
    blocklist = "import guardstream.blocklist.matcher; from guardstream.blocklist.lexicon import char_counts; assert char_counts()"
    run([str(bin_dir / "python"), "-c", blocklist], cwd=outside, env=stack_env)


def test_the_review_extra_starts_the_review_app_and_its_relay(
    wheel: Path, outside: Path, stack_env: dict[str, str], venvs: Path
) -> None:
    bin_dir = install(wheel, "review", venvs)
    check(bin_dir, ["review", "serve"], outside, stack_env)
    check(bin_dir, ["review", "relay"], outside, stack_env)


def test_the_escalation_extra_starts_the_agent_with_faust_and_the_shipped_rules(
    wheel: Path, outside: Path, stack_env: dict[str, str], venvs: Path
) -> None:
    bin_dir = install(wheel, "escalation", venvs)
    # the agent keeps no audit store: without one set, the default (SQLite under ./.run) must not stop it
    without_audit = {k: v for k, v in stack_env.items() if k != "GUARDSTREAM_AUDIT__URL"}
    run([str(bin_dir / "guardstream"), "escalate", "check"], cwd=outside, env=without_audit)
    check(bin_dir, ["escalate", "run"], outside, stack_env)  # imports faust and the transport over aiokafka


def test_the_services_extra_the_image_installs_holds_every_service_role_and_nothing_of_the_models(
    wheel: Path, outside: Path, stack_env: dict[str, str], venvs: Path
) -> None:
    """What infra/production/guardstream.Dockerfile installs: each role's --check is above, per extra."""
    bin_dir = install(wheel, "services", venvs)
    freeze = run([UV, "pip", "freeze", "--python", str(bin_dir / "python")], cwd=outside)
    assert "torch==" not in freeze and "huggingface" not in freeze and "nvidia-pytriton" not in freeze
    roles = "import workers.moderation.app, workers.streaming.app, workers.review.server, workers.escalation.app"
    run([str(bin_dir / "python"), "-c", roles], cwd=outside, env=stack_env)


@pytest.mark.xdist_group("wheel-torch")
def test_the_triton_backend_extra_imports_every_backend_and_the_training_extra_runs_the_trainer(
    wheel: Path, outside: Path, stack_env: dict[str, str], venvs: Path
) -> None:
    """The two torch extras share one virtualenv, the training extra installed over the backend's once
    the backend's imports were proved on their own: a fresh interpreter compiles torch and transformers
    on first import (tens of CPU-seconds), so the second extra reuses the first one's bytecode.
    training includes triton-backend, so the result is what a fresh install of training gives."""
    bin_dir = install(wheel, "triton-backend", venvs)
    backends = (
        "import guardstream.guard.triton_backend, guardstream.guard.stream_backend, guardstream.guard.constant_backend; "
        "import guardstream.guard.scoring, guardstream.guard.fast_guard, guardstream.guard.explaining; "
        "import peft, transformers, torch"
    )
    run([str(bin_dir / "python"), "-c", backends], cwd=outside, env=stack_env)
    freeze = run([UV, "pip", "freeze", "--python", str(bin_dir / "python")], cwd=outside)
    assert "tritonclient" not in freeze and "matplotlib" not in freeze  # the backend needs neither
    output = run(
        [str(bin_dir / "guardstream"), "model", "render-repository", "--out", str(venvs / "models")],
        cwd=outside, env=stack_env,
    )  # fmt: skip
    assert "guard: GPU" in output
    assert 'string_value: "cuda"' in (venvs / "models" / "guard" / "config.pbtxt").read_text()

    install(wheel, "training", venvs)
    assert "schedule" in run([str(bin_dir / "guardstream"), "train", "--help"], cwd=outside, env=stack_env)
    modules = (
        "import training.job, training.trainer.model_setup, training.data.files, training.evaluation.report, "
        "training.pretrained.onnx_bert, training.publish; import peft, matplotlib, pyarrow, onnx"
    )
    run([str(bin_dir / "python"), "-c", modules], cwd=outside, env=stack_env)
