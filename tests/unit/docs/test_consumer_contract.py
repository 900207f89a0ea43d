"""docs/asyncapi.yaml and docs/consumers.md cannot fall behind the code: the AsyncAPI document is valid
against the official AsyncAPI 3.0.0 JSON Schema (npm @asyncapi/specs, fetched by `make asyncapi-spec`),
names every topic of TopicSettings with its default, carries the records each topic holds as resolvable
Avro schemas (or, for an internal changelog, the JSON it holds), and the consumer page describes every
verdict field and every value of decided_by.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from fastavro import parse_schema

from guardstream.paths import repository_root
from guardstream.records import Action, Analysis, ChatEvent, DeadLetter, Decider, Feedback, Verdict
from guardstream.settings import TopicSettings
from guardstream.streaming.progress import StreamProgress
from guardstream.streaming.records import ReplyChunk, StreamRetraction, StreamVerdict

ROOT = repository_root()
DOCS = ROOT / "docs"
ASYNCAPI = DOCS / "asyncapi.yaml"
CONSUMERS = DOCS / "consumers.md"

# What each topic holds, as the workers produce it (workers/moderation/sink.py, analysis, escalation, review,
# workers/streaming/worker.py): one record, or a tuple of the records a topic carries side by side
RECORD_OF_TOPIC: dict[str, type | tuple[type, ...]] = {
    "chat_events": ChatEvent,
    "verdicts": Verdict,
    "flagged": Verdict,
    "dlq": DeadLetter,
    "analyses": Analysis,
    "actions": Action,
    "feedback": Feedback,
    "rejudge": ChatEvent,
    "reply_chunks": ReplyChunk,
    "stream_verdicts": (StreamVerdict, StreamRetraction),
}
# Topics that hold no Avro contract: the stream workers' changelog is JSON (StreamProgress.encode) that
# only the workers read. Its channel must say it is internal (x-guardstream-internal) and describe the
# JSON it holds, key for key (here: of a sample record), so that it neither passes for a consumer contract
# nor falls behind the code.
INTERNAL_TOPICS = {
    "stream_state": StreamProgress(stream_id="s", conversation_id="c", user_id="u", question="q", started_at_ms=0),
}
AVRO_FORMAT = "application/vnd.apache.avro;version=1.9.0"


def _asyncapi_json_schema() -> dict[str, Any]:
    version = re.search(r"^ASYNCAPI_SPECS_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert version is not None, "the Makefile pins ASYNCAPI_SPECS_VERSION"
    path = ROOT / ".cache" / "asyncapi-specs" / version.group(1) / "package" / "schemas" / "3.0.0.json"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make asyncapi-spec` (npm pack @asyncapi/specs)")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _document() -> dict[str, Any]:
    return yaml.safe_load(ASYNCAPI.read_text())  # type: ignore[no-any-return]


def _pointer(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _messages(document: dict[str, Any], channel: dict[str, Any]) -> list[dict[str, Any]]:
    return [_pointer(document, m["$ref"]) if "$ref" in m else m for m in channel["messages"].values()]


def _validation_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(_asyncapi_json_schema())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(document)]


def test_asyncapi_document_is_valid_against_the_official_asyncapi_3_schema() -> None:
    document = _document()
    assert document["asyncapi"] == "3.0.0"
    assert _validation_errors(document) == []


def test_the_asyncapi_schema_rejects_a_broken_document() -> None:
    """The validation above is real: a channel without an address string and an unknown action fail."""
    document = copy.deepcopy(_document())
    document["channels"]["verdicts"]["address"] = 5
    document["operations"]["sendVerdicts"]["action"] = "publish"
    assert len(_validation_errors(document)) >= 2


def test_every_topic_of_the_settings_is_a_channel_with_its_default_address_and_variable() -> None:
    channels = _document()["channels"]
    by_env = {channel["x-guardstream-env"]: channel for channel in channels.values()}
    defaults = TopicSettings()
    assert not set(RECORD_OF_TOPIC) & set(INTERNAL_TOPICS)
    assert set(RECORD_OF_TOPIC) | set(INTERNAL_TOPICS) == set(TopicSettings.model_fields), (
        "a topic was added: say what it holds here"
    )
    for field in TopicSettings.model_fields:
        env = f"GUARDSTREAM_TOPICS__{field.upper()}"
        assert env in by_env, f"no channel for {field} ({env})"
        channel = by_env[env]
        assert channel["address"] == getattr(defaults, field)
        assert channel["bindings"]["kafka"]["topic"] == getattr(defaults, field)
    assert len(channels) == len(TopicSettings.model_fields)


def test_each_channel_carries_the_record_its_topic_holds_as_a_resolvable_avro_schema() -> None:
    document = _document()
    by_env = {channel["x-guardstream-env"]: channel for channel in document["channels"].values()}
    referenced = set()
    for field, held in RECORD_OF_TOPIC.items():
        records = held if isinstance(held, tuple) else (held,)
        channel = by_env[f"GUARDSTREAM_TOPICS__{field.upper()}"]
        messages = _messages(document, channel)
        assert [m["name"] for m in messages] == [record.AVRO_NAME for record in records], field
        for record, message in zip(records, messages, strict=True):
            payload = message["payload"]
            assert payload["schemaFormat"] == AVRO_FORMAT
            path = (ASYNCAPI.parent / payload["schema"]["$ref"]).resolve()
            assert path.is_file(), f"{payload['schema']['$ref']} does not exist"
            parsed = parse_schema(json.loads(path.read_text()))
            assert parsed["name"] == record.AVRO_NAME, f"{path.name} holds {parsed['name']}, not {record.AVRO_NAME}"
            referenced.add(path)
    assert referenced == {p.resolve() for p in (ROOT / "schemas").glob("*.avsc")}


def test_an_internal_changelog_is_marked_internal_and_describes_its_json_key_for_key() -> None:
    document = _document()
    by_env = {channel["x-guardstream-env"]: channel for channel in document["channels"].values()}
    marked = {env for env, channel in by_env.items() if "x-guardstream-internal" in channel}
    assert marked == {f"GUARDSTREAM_TOPICS__{field.upper()}" for field in INTERNAL_TOPICS}
    for field, sample in INTERNAL_TOPICS.items():
        encoded = json.loads(sample.encode())
        channel = by_env[f"GUARDSTREAM_TOPICS__{field.upper()}"]
        assert channel.get("x-guardstream-internal") is True, field
        assert channel["description"].startswith("Internal."), field
        [message] = _messages(document, channel)
        assert message["contentType"] == "application/json"
        payload = message["payload"]
        assert payload["schemaFormat"] == "application/schema+json;version=draft-07"
        jsonschema.Draft7Validator.check_schema(payload["schema"])
        jsonschema.validate(encoded, payload["schema"])
        assert set(payload["schema"]["properties"]) == set(encoded), f"{field}: the JSON schema fell behind"


def test_every_internal_reference_of_the_asyncapi_document_resolves() -> None:
    document = _document()

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#") else []
            return found + [ref for value in node.values() for ref in refs(value)]
        if isinstance(node, list):
            return [ref for value in node for ref in refs(value)]
        return []

    for ref in refs(document):
        _pointer(document, ref)  # KeyError names a dangling reference


def _verdict_section() -> str:
    text = CONSUMERS.read_text()
    match = re.search(r"^## Verdict fields\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match is not None, "docs/consumers.md has a '## Verdict fields' section"
    return match.group(1)


def _field_names(schema: Any) -> set[str]:
    """Every field name of a record schema, nested records included."""
    if isinstance(schema, dict):
        names = {f["name"] for f in schema.get("fields", [])} if schema.get("type") == "record" else set()
        return names | {n for value in schema.values() for n in _field_names(value)}
    if isinstance(schema, list):
        return {n for value in schema for n in _field_names(value)}
    return set()


def test_consumer_page_describes_every_verdict_field() -> None:
    section = _verdict_section()
    schema = json.loads((ROOT / "schemas" / "verdict.avsc").read_text())
    missing = sorted(name for name in _field_names(schema) if f"`{name}`" not in section)
    assert missing == [], f"docs/consumers.md's Verdict fields do not describe {missing}"


def test_consumer_page_names_every_value_of_decided_by_and_label() -> None:
    section = _verdict_section()
    schema = json.loads((ROOT / "schemas" / "verdict.avsc").read_text())
    labels = next(f["type"]["symbols"] for f in schema["fields"] if f["name"] == "label")
    missing = [value for value in [*(d.value for d in Decider), *labels] if f"`{value}`" not in section]
    assert missing == [], f"docs/consumers.md's Verdict fields do not explain {missing}"


def test_consumer_page_links_the_schemas_and_the_asyncapi_document() -> None:
    text = CONSUMERS.read_text()
    for path in [*sorted((ROOT / "schemas").glob("*.avsc")), ASYNCAPI]:
        target = Path("..") / path.relative_to(ROOT) if path.parent != DOCS else Path(path.name)
        assert f"]({target.as_posix()})" in text, f"docs/consumers.md does not link {target}"
