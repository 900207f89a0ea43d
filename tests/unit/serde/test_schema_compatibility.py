"""Every schema in schemas/ must stay BACKWARD compatible with every earlier version of itself.

Earlier versions come from git history (``git log -- schemas/X.avsc`` / ``git show``) and from
``schemas/history/<stem>/*.avsc``. Apache Avro's reader/writer compatibility checker decides (see
``guardstream.serde.compatibility``).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess

import pytest

from guardstream.paths import repository_root
from guardstream.serde.compatibility import backward_problems
from tests.support.stack import unavailable

ROOT = repository_root()
SCHEMA_FILES = sorted((ROOT / "schemas").glob("*.avsc"))
IDS = [p.name for p in SCHEMA_FILES]


def _git(*args: str, root=ROOT) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True, timeout=30).stdout


def _git_versions(relpath: str, root=ROOT) -> list[tuple[str, dict]]:
    """Every committed version of ``relpath``, newest first, as (label, schema)."""
    if shutil.which("git") is None:
        unavailable("git is not installed: cannot read earlier committed schema versions", "install git")
    try:
        _git("rev-parse", "--is-inside-work-tree", root=root)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        unavailable(f"{root} is not a git work tree: no committed schema history to check", "run the tests in a clone")
    out = []
    for sha in _git("log", "--format=%H", "--", relpath, root=root).split():
        try:
            text = _git("show", f"{sha}:{relpath}", root=root)
            out.append((f"{relpath}@{sha[:10]}", json.loads(text)))
        except subprocess.CalledProcessError:
            continue  # the commit deleted the file
    return out


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=IDS)
def test_schema_is_backward_compatible_with_every_committed_version(path):
    current = json.loads(path.read_text(encoding="utf-8"))
    versions = _git_versions(f"schemas/{path.name}")
    if not versions:
        pytest.skip(f"schemas/{path.name} has no committed version yet")
    for label, old in versions:
        problems = backward_problems(old, current)
        assert not problems, f"{path.name} cannot read data written with {label}: {problems[0]}"


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=IDS)
def test_schema_is_backward_compatible_with_its_history_folder(path):
    current = json.loads(path.read_text(encoding="utf-8"))
    for old_path in sorted((ROOT / "schemas" / "history" / path.stem).glob("*.avsc")):
        problems = backward_problems(json.loads(old_path.read_text(encoding="utf-8")), current)
        assert not problems, f"{path.name} cannot read data written with {old_path}: {problems[0]}"


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=IDS)
def test_schema_reads_its_own_samples(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert backward_problems(schema, schema) == []


def test_git_history_versions_are_found_and_an_incompatible_edit_is_flagged(tmp_path):
    if shutil.which("git") is None:
        unavailable("git is not installed", "install git")
    repo = tmp_path / "repo"
    (repo / "schemas").mkdir(parents=True)
    schema_file = repo / "schemas" / "chat_event.avsc"
    schema_file.write_text(json.dumps(_chat_event()))
    _git("init", "-q", root=repo)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".", root=repo)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1", root=repo)
    versions = _git_versions("schemas/chat_event.avsc", root=repo)
    assert len(versions) == 1
    edited = _chat_event()
    _field(edited, "role")["type"]["symbols"] = ["user"]
    assert backward_problems(versions[0][1], edited)


# The checker itself: it must flag breaking changes and accept safe ones.


def _chat_event() -> dict:
    return json.loads((ROOT / "schemas" / "chat_event.avsc").read_text(encoding="utf-8"))


def _field(schema: dict, name: str) -> dict:
    return next(f for f in schema["fields"] if f["name"] == name)


def test_checker_flags_a_new_field_without_default():
    new = _chat_event()
    new["fields"].append({"name": "severity", "type": "int", "doc": "x"})
    problems = backward_problems(_chat_event(), new)
    assert problems and "severity" in str(problems[0])


def test_checker_flags_a_removed_enum_symbol():
    new = _chat_event()
    _field(new, "role")["type"]["symbols"] = ["user"]
    problems = backward_problems(_chat_event(), new)
    assert problems and "assistant" in str(problems[0])


def test_checker_flags_a_changed_field_type():
    new = _chat_event()
    _field(new, "created_at_ms")["type"] = "string"
    assert backward_problems(_chat_event(), new)


def test_checker_flags_a_union_branch_removed():
    new = _chat_event()
    _field(new, "question")["type"] = "string"
    _field(new, "question").pop("default")
    assert backward_problems(_chat_event(), new)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["fields"].append({"name": "tenant", "type": ["null", "string"], "default": None, "doc": "x"}),
        lambda s: _field(s, "role")["type"]["symbols"].append("system"),
        lambda s: s["fields"].remove(_field(s, "locale")),
        lambda s: _field(s, "text").update(doc="reworded documentation"),
        lambda s: _field(s, "metadata")["type"].update(values=["null", "string"]),
    ],
    ids=["add-optional-field", "add-enum-symbol", "remove-field", "doc-change", "widen-to-union"],
)
def test_checker_accepts_backward_compatible_changes(change):
    new = copy.deepcopy(_chat_event())
    change(new)
    assert backward_problems(_chat_event(), new) == []


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=IDS)
def test_data_written_with_every_committed_version_can_be_read(path):
    """A new field is not enough: records already on the topics carry the old writer's fingerprint,
    which the decoder finds only if that version is the current file or kept in schemas/history/."""
    from guardstream.serde.schemas import default_schema_set, make_version

    known = default_schema_set().by_fingerprint
    for label, old in _git_versions(f"schemas/{path.name}"):
        version = make_version(old, stem=path.stem, label=label)
        assert version.fingerprint in known, (
            f"records written with {label} could not be decoded: copy that version into schemas/history/{path.stem}/"
        )
