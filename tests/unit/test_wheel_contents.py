"""The wheel carries what an installed guardstream reads from its own package: the shipped policy, the
Avro contracts (with their history) and the model repository's sources; never a built checkpoint."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from guardstream.paths import repository_root
from guardstream.settings import SHIPPED_POLICY_FILE
from tests.support.package_sources import copy_package_sources

ROOT = repository_root()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy: building leaves folders behind
    copy_package_sources(source)
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


def test_the_copy_holds_the_sources_git_sees_and_nothing_published_or_built_beside_them(tmp_path: Path) -> None:
    # make test runs this beside the tests that publish model versions into the checkout's repository
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / ".gitignore", checkout / ".gitignore")
    files = {
        "triton_models/guard/config.pbtxt": "tracked",
        "triton_models/guard/1/model.py": "tracked",
        "guardstream/new_module.py": "new, not yet added",
        "triton_models/guard/1/checkpoint/config.json": "built",
        "triton_models/guard/2/model.py": "published",
        "notes.txt": "outside the package",
    }
    for name, text in files.items():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text(text)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=checkout, check=True)
    subprocess.run([*git, "add", ".gitignore", "triton_models/guard/config.pbtxt", "triton_models/guard/1/model.py"],
                   cwd=checkout, check=True)  # fmt: skip

    copy_package_sources(tmp_path / "copy", root=checkout)

    copied = {
        path.relative_to(tmp_path / "copy").as_posix() for path in (tmp_path / "copy").rglob("*") if path.is_file()
    }
    assert copied == {"triton_models/guard/config.pbtxt", "triton_models/guard/1/model.py", "guardstream/new_module.py"}
