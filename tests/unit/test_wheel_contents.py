"""The wheel carries what an installed guardstream reads from its own package: the shipped policy, the
Avro contracts (with their history) and the model repository's sources; never a built checkpoint."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from guardstream.paths import repository_root
from guardstream.settings import SHIPPED_POLICY_FILE

ROOT = repository_root()
# Built weights live beside the sources (ignored by git) and must stay out of the copy and the wheel.
NOT_SOURCES = shutil.ignore_patterns("__pycache__", "checkpoint", "*.egg-info")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy: building leaves folders behind
    for folder in ("guardstream", "workers", "training", "devtools", "schemas", "triton_models"):
        shutil.copytree(ROOT / folder, source / folder, symlinks=True, ignore=NOT_SOURCES)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # a checkpoint beside the model sources, as `guardstream model build-default` leaves one
    (source / "triton_models" / "guard" / "1" / "checkpoint").mkdir()
    (source / "triton_models" / "guard" / "1" / "checkpoint" / "config.json").write_text("{}")
    # and a version that training published beside it (guardstream train … --publish): runtime state too
    (source / "triton_models" / "guard" / "2").mkdir()
    shutil.copy(source / "triton_models" / "guard" / "1" / "model.py", source / "triton_models" / "guard" / "2")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp), "."],
        cwd=source, check=True, timeout=240, capture_output=True,
    )  # fmt: skip
    [built] = tmp.glob("guardstream-*.whl")
    return zipfile.ZipFile(built)


def test_the_shipped_policy_file_is_installed_with_the_package(wheel: zipfile.ZipFile) -> None:
    assert wheel.read(f"guardstream/{SHIPPED_POLICY_FILE.name}") == SHIPPED_POLICY_FILE.read_bytes()


def test_every_schema_and_every_kept_earlier_version_is_installed_with_the_package(wheel: zipfile.ZipFile) -> None:
    folder = ROOT / "schemas"
    expected = {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*.avsc")}
    shipped = {
        name.removeprefix("guardstream/schemas/"): wheel.read(name)
        for name in wheel.namelist()
        if name.startswith("guardstream/schemas/")
    }
    assert any("/" in name for name in expected), "schemas/history/ holds earlier versions"
    assert shipped == expected


def test_the_model_repositorys_sources_are_installed_but_no_weights(wheel: zipfile.ZipFile) -> None:
    folder = ROOT / "triton_models"
    expected = {
        path.relative_to(folder).as_posix()
        for pattern in ("*/config.pbtxt", "*/1/model.py")
        for path in folder.glob(pattern)
    }
    shipped = {
        name.removeprefix("guardstream/triton_models/")
        for name in wheel.namelist()
        if name.startswith("guardstream/triton_models/")
    }
    assert "guard/config.pbtxt" in expected
    assert shipped == expected
