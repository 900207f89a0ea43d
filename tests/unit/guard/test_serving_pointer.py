"""serving.json keeps one pointer per served model, and still reads the guard-only file of earlier releases."""

from __future__ import annotations

import json
from pathlib import Path

from guardstream.guard.serving_pointer import STATE_FILE, ServingPointer, read_pointer, saved_models, write_pointer
from training.publish import serving_version


def test_each_model_keeps_its_own_pointer(tmp_path: Path) -> None:
    write_pointer(tmp_path, "guard", ServingPointer("3", "2", ["2", "3"]))
    write_pointer(tmp_path, "guard_fast", ServingPointer("2", "1", ["1", "2"]))
    write_pointer(tmp_path, "guard", ServingPointer("2", "3", ["2", "3"]))
    assert read_pointer(tmp_path, "guard") == ServingPointer("2", "3", ["2", "3"])
    assert read_pointer(tmp_path, "guard_fast") == ServingPointer("2", "1", ["1", "2"])
    assert read_pointer(tmp_path, "guard_explain") is None
    assert saved_models(tmp_path) == ["guard", "guard_fast"]
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]


def test_the_single_model_file_of_earlier_releases_is_the_guards_pointer(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps({"current": "2", "previous": "1", "loaded": ["1", "2"]}))
    assert read_pointer(tmp_path, "guard") == ServingPointer("2", "1", ["1", "2"])
    assert read_pointer(tmp_path, "guard_fast") is None
    write_pointer(tmp_path, "guard_fast", ServingPointer("1", "", ["1"]))
    assert read_pointer(tmp_path, "guard") == ServingPointer("2", "1", ["1", "2"])


def test_the_serving_fast_guard_is_its_promoted_version_else_the_newest_with_a_checkpoint(tmp_path: Path) -> None:
    for version in ("1", "2", "3"):
        (tmp_path / "guard_fast" / version / "checkpoint").mkdir(parents=True)
        if version != "3":  # 3 is still being written: no contract yet
            (tmp_path / "guard_fast" / version / "checkpoint" / "fast_guard.json").write_text("{}")
    assert serving_version(tmp_path, "guard_fast") == 2
    write_pointer(tmp_path, "guard_fast", ServingPointer("1", "2", ["1", "2"]))
    assert serving_version(tmp_path, "guard_fast") == 1
    assert serving_version(tmp_path, "guard") is None
