from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from devtools.devstack.errors import DevStackError
from devtools.devstack.settings import DevStackSettings
from devtools.devstack.triton import (
    TritonDistribution,
    assemble_backends,
    load_failures,
    orphaned_shm_regions,
    remove_orphaned_shm_regions,
    server_argv,
    server_env,
)

FAILED_LOAD_LOG = """\
I1128 16:17:02.374684 6979 model_lifecycle.cc:472] "loading: guard:1"
E1128 16:17:03.962620 6979 backend_model.cc:692] "ERROR: Failed to create instance: RuntimeError: weights missing"
E1128 16:17:03.962749 6979 model_lifecycle.cc:642] "failed to load 'guard' version 1: Internal: RuntimeError: weights missing: /nowhere/checkpoint\\n\\nAt:\\n  /m/guard/1/model.py(3): initialize\\n"
I1128 16:17:03.962766 6979 model_lifecycle.cc:777] "failed to load 'guard'"
error: creating server: Internal - failed to load all models
"""


def _fake_distribution(root: Path) -> TritonDistribution:
    dist = TritonDistribution(
        site_packages=root / "site",
        python_version="3.11",
        python_libdir=root / "pylib",
        venv_bin=root / "venv" / "bin",
    )
    backend = dist.server_root / "backends" / "python"
    backend.mkdir(parents=True)
    (backend / "libtriton_python.so").write_bytes(b"so")
    (backend / "triton_python_backend_utils.py").write_text("# utils")
    dist.stub.parent.mkdir(parents=True)
    dist.stub.write_bytes(b"stub")
    return dist


def test_load_failures_name_the_model_version_and_first_line_of_the_reason() -> None:
    assert load_failures(FAILED_LOAD_LOG) == ["guard/1: Internal: RuntimeError: weights missing: /nowhere/checkpoint"]
    assert load_failures("I1128 model_lifecycle.cc:839] \"successfully loaded 'guard'\"") == []


def test_backend_folder_gets_the_backend_and_the_stub_for_our_python(tmp_path: Path) -> None:
    dist = _fake_distribution(tmp_path)
    target = assemble_backends(dist, tmp_path / "backends")
    names = sorted(p.name for p in (target / "python").iterdir())
    assert names == ["libtriton_python.so", "triton_python_backend_stub", "triton_python_backend_utils.py"]
    assemble_backends(dist, tmp_path / "backends")  # idempotent


def test_missing_stub_for_our_python_is_a_clear_error(tmp_path: Path) -> None:
    dist = _fake_distribution(tmp_path)
    dist.stub.unlink()
    with pytest.raises(DevStackError, match="lacks"):
        assemble_backends(dist, tmp_path / "backends")


def test_server_environment_puts_our_libpython_and_venv_first(tmp_path: Path) -> None:
    dist = _fake_distribution(tmp_path)
    env = server_env(dist, {"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/opt/lib"})
    assert env["LD_LIBRARY_PATH"].split(":") == [str(dist.python_libdir), str(dist.bundled_libs), "/opt/lib"]
    assert env["PATH"].split(":")[0] == str(dist.venv_bin)


def test_server_runs_in_explicit_mode_loading_every_model_on_loopback(tmp_path: Path) -> None:
    dist = _fake_distribution(tmp_path)
    settings = DevStackSettings(runtime_dir=tmp_path / "run", model_repository=tmp_path / "models")
    argv = server_argv(settings, dist)
    assert argv[0] == str(dist.server_binary)
    for flag in (
        f"--model-repository={tmp_path / 'models'}",
        f"--backend-directory={tmp_path / 'run' / 'triton' / 'backends'}",
        "--model-control-mode=explicit",
        "--load-model=*",
        "--exit-timeout-secs=5",
        "--http-address=127.0.0.1",
        "--http-port=18000",
        "--grpc-port=18001",
        "--metrics-port=18002",
    ):
        assert flag in argv


def test_server_loads_only_the_models_the_settings_list(tmp_path: Path) -> None:
    settings = DevStackSettings(runtime_dir=tmp_path / "run", triton_models="guard,guard_fast")
    argv = server_argv(settings, _fake_distribution(tmp_path))
    assert [flag for flag in argv if flag.startswith("--load-model")] == [
        "--load-model=guard",
        "--load-model=guard_fast",
    ]


@pytest.mark.parametrize("listed", ["", "guard,", "guard fast", "*,guard"])
def test_a_malformed_model_list_is_refused_naming_the_setting(listed: str) -> None:
    with pytest.raises(ValidationError, match="triton_models"):
        DevStackSettings(triton_models=listed)


def test_only_regions_no_process_holds_open_are_removed(tmp_path: Path) -> None:
    shm, proc = tmp_path / "shm", tmp_path / "proc"
    shm.mkdir()
    held, orphan, other = (
        shm / name
        for name in ("triton_python_backend_shm_region_a", "triton_python_backend_shm_region_b", "PostgreSQL.1")
    )
    for path in (held, orphan, other):
        path.write_bytes(b"")
    (proc / "4242" / "fd").mkdir(parents=True)
    (proc / "4242" / "fd" / "3").symlink_to(held)
    (proc / "self").mkdir()  # not a process folder
    (proc / "4343").mkdir()  # a process whose open files cannot be read
    assert orphaned_shm_regions(shm, proc) == [orphan]
    remove_orphaned_shm_regions(shm, proc)
    assert sorted(p.name for p in shm.iterdir()) == sorted([held.name, other.name])
