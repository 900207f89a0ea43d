"""The contracts in schemas/ load, are documented, and older writer versions stay readable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from guardstream.errors import ConfigurationError, PoisonInputError
from guardstream.paths import repository_root
from guardstream.records import RECORD_TYPES, ChatEvent, ChatRole
from guardstream.serde import ChatEventDecoder, default_schema_set, load_schema_set, single_object
from guardstream.serde.schemas import make_version
from guardstream.streaming.records import STREAM_RECORD_TYPES

SCHEMA_DIR = repository_root() / "schemas"
CONTRACTS = RECORD_TYPES + STREAM_RECORD_TYPES


def _named_types(schema):
    if isinstance(schema, dict):
        if schema.get("type") in ("record", "enum"):
            yield schema
        for value in schema.values():
            yield from _named_types(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _named_types(value)


def test_one_schema_file_per_record_in_namespace_guardstream():
    schemas = default_schema_set()
    assert set(schemas.current) == {cls.AVRO_NAME for cls in CONTRACTS}
    for path in SCHEMA_DIR.glob("*.avsc"):
        assert json.loads(path.read_text())["namespace"] == "guardstream"


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.avsc")), ids=lambda p: p.name)
def test_every_field_and_named_type_has_a_doc(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    for named in _named_types(schema):
        assert named.get("doc"), f"{named['name']} has no doc"
        for field in named.get("fields", ()):
            assert field.get("doc"), f"{named['name']}.{field['name']} has no doc"


def test_dataclass_fields_mirror_schema_fields():
    import dataclasses

    for cls in CONTRACTS:
        version = default_schema_set().get(cls.AVRO_NAME)
        schema_fields = [f["name"] for f in version.source["fields"]]
        assert [f.name for f in dataclasses.fields(cls)] == schema_fields


def test_schema_dir_can_be_overridden_by_environment(tmp_path, monkeypatch):
    shutil.copytree(SCHEMA_DIR, tmp_path / "schemas", ignore=shutil.ignore_patterns("history"))
    monkeypatch.setenv("GUARDSTREAM_SCHEMA_DIR", str(tmp_path / "schemas"))
    from guardstream.serde.schemas import default_schema_dir

    assert default_schema_dir() == tmp_path / "schemas"
    assert load_schema_set().directory == tmp_path / "schemas"


def test_by_default_the_schemas_are_the_packages_own_which_in_a_checkout_are_the_repositorys(monkeypatch):
    import guardstream
    from guardstream.serde.schemas import default_schema_dir

    monkeypatch.delenv("GUARDSTREAM_SCHEMA_DIR", raising=False)
    assert default_schema_dir() == Path(guardstream.__file__).parent / "schemas"
    assert default_schema_dir().resolve() == SCHEMA_DIR.resolve()


def test_missing_schema_dir_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError):
        load_schema_set(tmp_path / "nowhere")


def test_data_written_with_a_history_version_is_resolved_into_the_current_schema(tmp_path):
    folder = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, folder, ignore=shutil.ignore_patterns("history"))
    # A plausible v0 of ChatEvent: no locale, no metadata, and an extra field since dropped.
    old = json.loads((folder / "chat_event.avsc").read_text())
    old["fields"] = [f for f in old["fields"] if f["name"] not in ("locale", "metadata")]
    old["fields"].append({"name": "shard", "type": "int", "doc": "dropped in v1"})
    (folder / "history" / "chat_event").mkdir(parents=True)
    (folder / "history" / "chat_event" / "v0.avsc").write_text(json.dumps(old))
    schemas = load_schema_set(folder)

    v0 = make_version(old, stem="chat_event", label="v0")
    assert v0.fingerprint in schemas.by_fingerprint
    payload = single_object.encode(
        v0,
        {
            "event_id": "e0",
            "conversation_id": "c0",
            "user_id": "u0",
            "role": "user",
            "text": "老版本的消息",
            "question": None,
            "context": [],
            "created_at_ms": 7,
            "shard": 3,
        },
    )
    event = ChatEventDecoder(schemas=schemas).decode(payload)
    assert event == ChatEvent(
        event_id="e0",
        conversation_id="c0",
        user_id="u0",
        role=ChatRole.USER,
        text="老版本的消息",
        created_at_ms=7,
        locale=None,
        metadata={},
    )
    # Without the history folder the same bytes have an unknown fingerprint.
    with pytest.raises(PoisonInputError) as err:
        ChatEventDecoder().decode(payload)
    assert err.value.kind == "unknown_schema"


def test_repository_root_holds_pyproject():
    assert (repository_root() / "pyproject.toml").is_file()
    assert isinstance(repository_root(), Path)
