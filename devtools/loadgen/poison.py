"""Poison inputs for chaos runs and tests: payloads the worker must dead-letter, never crash on.

``poison_payloads(seed)`` returns (case name, payload) pairs; ``EXPECTED_KIND`` maps each case to
the ``PoisonInputError.kind`` the ChatEvent decoder gives it (with its default limits and no
schema registry configured).
"""

from __future__ import annotations

import copy
import io
import json
import random
from typing import Any

from fastavro import parse_schema, schemaless_writer

from guardstream.records import ChatEvent, ChatRole
from guardstream.serde import single_object
from guardstream.serde.schemas import default_schema_set, strip_logical_types

EXPECTED_KIND: dict[str, str] = {
    "empty_payload": "empty_payload",
    "whitespace_only": "empty_payload",
    "unknown_marker": "unknown_format",
    "half_marker": "unknown_format",
    "truncated_header": "truncated_header",
    "marker_only": "truncated_header",
    "unknown_fingerprint": "unknown_schema",
    "wrong_record_type": "wrong_schema",
    "truncated_body": "malformed_avro",
    "garbage_body": "malformed_avro",
    "trailing_bytes": "trailing_bytes",
    "bad_enum_index": "malformed_avro",
    "bad_union_branch": "malformed_avro",
    "avro_wrong_types": "malformed_avro",
    "invalid_utf8_avro": "invalid_utf8",
    "invalid_utf8_json": "invalid_utf8",
    "lone_surrogate_json": "invalid_utf8",
    "empty_text": "empty_text",
    "whitespace_text": "empty_text",
    "huge_text_1mib": "text_too_long",
    "huge_context": "text_too_long",
    "nul_in_text": "nul_bytes",
    "nul_in_metadata": "nul_bytes",
    "empty_event_id": "empty_field",
    "json_array": "not_an_object",
    "json_broken": "invalid_json",
    "json_deep_nesting": "invalid_json",
    "json_missing_created_at": "missing_field",
    "json_wrong_type_text": "wrong_type",
    "json_null_text": "wrong_type",
    "json_float_timestamp": "wrong_type",
    "json_bad_role": "invalid_value",
    "confluent_without_registry": "unknown_format",
    "payload_too_large": "payload_too_large",
}


def _event(rng: random.Random, **changes: Any) -> dict[str, Any]:
    base = ChatEvent(
        event_id=f"poison-{rng.getrandbits(48):012x}",
        conversation_id=f"conv-poison-{rng.randint(0, 999):03d}",
        user_id=f"u-poison-{rng.randint(0, 99):02d}",
        role=ChatRole.USER,
        text="今天直播几点开始？",
        created_at_ms=1_735_689_600_000 + rng.randint(0, 10**8),
        locale="zh-CN",
        metadata={"source": "loadgen.poison"},
    ).to_avro()
    base.update(changes)
    return base


def _lying_write(version: Any, datum: dict[str, Any], field_types: dict[str, Any]) -> bytes:
    """Write ``datum`` with a schema whose field types are swapped, under the real header."""
    schema = copy.deepcopy(strip_logical_types(version.source))
    for f in schema["fields"]:
        if f["name"] in field_types:
            f["type"] = field_types[f["name"]]
            f.pop("default", None)
    schema["name"] = "Liar"
    buf = io.BytesIO()
    buf.write(single_object.header(version))
    schemaless_writer(buf, parse_schema(schema, named_schemas={}), datum)
    return buf.getvalue()


def _json(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def poison_payloads(seed: int) -> list[tuple[str, bytes]]:
    """Every kind of bad ChatEvent input, as (case name, payload); see ``EXPECTED_KIND``."""
    rng = random.Random(seed)
    schemas = default_schema_set()
    chat = schemas.get(ChatEvent.AVRO_NAME)
    verdict = schemas.get("guardstream.Verdict")

    def avro(**changes: Any) -> bytes:
        return single_object.encode(chat, _event(rng, **changes))

    valid = avro()
    json_ok = _event(rng)
    out: list[tuple[str, bytes]] = [
        ("empty_payload", b""),
        ("whitespace_only", b" \r\n\t  "),
        ("unknown_marker", b"\x7fELF" + rng.randbytes(12)),
        ("half_marker", b"\xc3\x02" + valid[2:]),
        ("truncated_header", valid[: rng.randint(3, 9)]),
        ("marker_only", single_object.MARKER),
    ]
    unknown_fp = rng.randbytes(8)
    while unknown_fp in schemas.by_fingerprint:
        unknown_fp = rng.randbytes(8)
    out.append(("unknown_fingerprint", single_object.MARKER + unknown_fp + valid[10:]))
    out.append(
        (
            "wrong_record_type",
            single_object.encode(
                verdict,
                {
                    "event_id": "e",
                    "conversation_id": "c",
                    "user_id": "u",
                    "label": "safe",
                    "p_unsafe": 0.0,
                    "categories": [],
                    "analysis": None,
                    "model_name": "m",
                    "model_version": "1",
                    "policy_version": "p",
                    "event_created_at_ms": 0,
                    "verdict_at_ms": 0,
                    "queue_ms": 0.0,
                    "inference_ms": 0.0,
                    "end_to_end_ms": 0.0,
                    "trace_id": None,
                    "source_topic": "t",
                    "source_partition": 0,
                    "source_offset": 0,
                },
            ),
        )
    )
    out.append(("truncated_body", valid[: 10 + (len(valid) - 10) // 2]))
    out.append(("garbage_body", single_object.header(chat) + b"\xff" * 12 + rng.randbytes(4)))
    out.append(("trailing_bytes", valid + b"\x00\x02"))
    out.append(("bad_enum_index", _lying_write(chat, _event(rng, role=7), {"role": "int"})))
    out.append(("bad_union_branch", _lying_write(chat, _event(rng, question=5), {"question": "long"})))
    out.append(
        (
            "avro_wrong_types",
            _lying_write(
                chat,
                _event(rng, text=-(2**40), created_at_ms="yesterday"),
                {"text": "long", "created_at_ms": "string"},
            ),
        )
    )
    out.append(
        (
            "invalid_utf8_avro",
            _lying_write(chat, _event(rng, text=b"\xe4\xbd\xa0\xff\xfe"), {"text": "bytes"}),
        )
    )
    ok_json = _json(json_ok)
    out.append(("invalid_utf8_json", ok_json.replace("今天".encode(), b"\xe4\xbb")))
    out.append(("lone_surrogate_json", json.dumps({**json_ok, "text": "\ud800好"}).encode("ascii")))
    out.append(("empty_text", avro(text="")))
    out.append(("whitespace_text", avro(text=" \u3000\t\n ")))
    out.append(("huge_text_1mib", avro(text="啊" * (1 << 20))))
    out.append(("huge_context", avro(context=["很长的上下文。" * 1000] * 20)))
    out.append(("nul_in_text", avro(text="你好\x00世界")))
    out.append(("nul_in_metadata", avro(metadata={"client\x00": "ios"})))
    out.append(("empty_event_id", avro(event_id="")))
    out.append(("json_array", _json([json_ok])))
    out.append(("json_broken", ok_json[: len(ok_json) // 2]))
    out.append(("json_deep_nesting", b"[" * 100_000 + b"]" * 100_000))
    out.append(("json_missing_created_at", _json({k: v for k, v in json_ok.items() if k != "created_at_ms"})))
    out.append(("json_wrong_type_text", _json({**json_ok, "text": 12345})))
    out.append(("json_null_text", _json({**json_ok, "text": None})))
    out.append(("json_float_timestamp", _json({**json_ok, "created_at_ms": 1.7e12})))
    out.append(("json_bad_role", _json({**json_ok, "role": "moderator"})))
    out.append(("confluent_without_registry", b"\x00\x00\x00\x00\x01" + valid[10:]))
    out.append(("payload_too_large", b"{" + b" " * (9 * 1024 * 1024) + b"}"))
    return out
