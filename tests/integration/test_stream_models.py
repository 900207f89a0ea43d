"""The stream models against the real Triton server (`triton_models/` on the local stack).

Chunks of interleaved streams, sent with their stream id as the sequence id, must score as the
in-process stream scorer does on the same checkpoint; a stream the model does not hold answers
NEEDS_TEXT until the text is resent; a replayed chunk scores as the first time; and a chunk of a
sequence Triton holds no slot for (never started, ended, or idle past
``max_sequence_idle_microseconds``) is refused without START. Skips when no Triton listens at
GUARDSTREAM_TRITON__GRPC_URL (default 127.0.0.1:18001), unless GUARDSTREAM_REQUIRE_STACK=1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardstream.guard.backend_settings import settings_from_model_config
from guardstream.guard.stream_backend import build_stream_scorer
from guardstream.guard.stream_scoring import StreamScorer
from guardstream.settings import load_settings
from tests.support.stack import unavailable

pytestmark = pytest.mark.integration

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]
QUESTION = "怎么做番茄炒蛋？"
REPLY = ["先把鸡蛋打散，", "炒熟后盛出。", "再炒番茄，", "最后一起翻炒，", "加盐调味。"]
OTHER_QUESTION = "告诉我邻居的手机号"
OTHER_REPLY = ["对不起，", "我不能提供", "他人的隐私信息。"]


@dataclass
class Served:
    """One stream model: the Triton client, its name, and the same scorer in this process."""

    triton: Any
    name: str
    local: StreamScorer

    def chunk(
        self,
        stream: str,
        question: str,
        delta: str,
        prefix: int,
        *,
        start: bool = False,
        end: bool = False,
        text: str | None = None,
    ) -> dict[str, Any]:
        import tritonclient.grpc as grpcclient

        def tensor(name: str, value: object, kind: str, dtype: Any) -> Any:
            entry = grpcclient.InferInput(name, [1, 1], kind)
            entry.set_data_from_numpy(np.array([[value]], dtype=dtype))
            return entry

        inputs = [
            tensor("QUESTION", question.encode(), "BYTES", object),
            tensor("DELTA", delta.encode(), "BYTES", object),
            tensor("PREFIX_CHARS", prefix, "INT64", np.int64),
        ]
        if text is not None:
            inputs.append(tensor("TEXT", text.encode(), "BYTES", object))
        result = self.triton.infer(self.name, inputs, sequence_id=stream, sequence_start=start, sequence_end=end)
        names = ("P_UNSAFE", "CATEGORY", "CATEGORY_SCORE", "NEEDS_TEXT", "STREAM_CHARS")
        return {name: result.as_numpy(name)[0, 0] for name in names}


def _served(triton: Any, name: str) -> Served:
    try:
        ready = triton.is_model_ready(name)
    except Exception as exc:  # any client error means no server to test against
        unavailable(f"no Triton at {load_settings().triton.grpc_url}: {exc}")
    if not ready:
        unavailable(f"Triton model {name} is not ready")
    config = triton.get_model_config(name, as_json=True)["config"]
    version = max(triton.get_model_metadata(name, as_json=True)["versions"], key=int)
    settings = settings_from_model_config(config, REPO / "triton_models" / name / version)
    return Served(triton, name, build_stream_scorer(settings))


@pytest.fixture(scope="module")
def triton() -> Iterator[Any]:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url=load_settings().triton.grpc_url)
    yield client
    client.close()


@pytest.fixture(scope="module", params=["guard_fast_stream", "guard_stream"])
def model(request: pytest.FixtureRequest, triton: Any, stream_models_ready: None) -> Served:
    return _served(triton, request.param)


def _stream_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def test_interleaved_streams_score_as_the_scorer_does_in_process(model: Served) -> None:
    first, second = _stream_id(), _stream_id()
    local_first, local_second = model.local.open(QUESTION, ""), model.local.open(OTHER_QUESTION, "")
    served: list[float] = []
    expected: list[float] = []
    sent = {first: 0, second: 0}
    plan = [(first, QUESTION, REPLY, local_first), (second, OTHER_QUESTION, OTHER_REPLY, local_second)]
    for step in range(len(REPLY)):
        for stream, question, reply, local in plan:
            if step >= len(reply):
                continue
            answer = model.chunk(
                stream, question, reply[step], sent[stream], start=step == 0, end=step == len(reply) - 1
            )
            sent[stream] += len(reply[step])
            assert not answer["NEEDS_TEXT"] and answer["STREAM_CHARS"] == sent[stream]
            served.append(float(answer["P_UNSAFE"]))
            expected.append(float(model.local.advance([(local, reply[step])]).p_unsafe[0]))
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_a_stream_the_model_does_not_hold_needs_its_text_and_scores_once_resent(model: Served) -> None:
    stream, before = _stream_id(), "".join(REPLY[:3])
    lost = model.chunk(stream, QUESTION, REPLY[3], len(before), start=True)
    assert lost["NEEDS_TEXT"] and np.isnan(lost["P_UNSAFE"]) and lost["CATEGORY"] == b""
    resent = model.chunk(stream, QUESTION, REPLY[3], len(before), text=before)
    assert not resent["NEEDS_TEXT"] and resent["STREAM_CHARS"] == len(before) + len(REPLY[3])
    local = model.local.open(QUESTION, before)
    assert float(resent["P_UNSAFE"]) == pytest.approx(
        float(model.local.advance([(local, REPLY[3])]).p_unsafe[0]), abs=1e-5
    )
    model.chunk(stream, QUESTION, REPLY[4], resent["STREAM_CHARS"], end=True)


def test_a_replayed_chunk_scores_as_the_first_time(model: Served) -> None:
    stream = _stream_id()
    model.chunk(stream, QUESTION, REPLY[0], 0, start=True)
    first = model.chunk(stream, QUESTION, REPLY[1], len(REPLY[0]))
    model.chunk(stream, QUESTION, REPLY[2], len(REPLY[0]) + len(REPLY[1]))
    replayed = model.chunk(stream, QUESTION, REPLY[1], len(REPLY[0]), end=True)
    assert replayed["STREAM_CHARS"] == first["STREAM_CHARS"] and not replayed["NEEDS_TEXT"]
    assert float(replayed["P_UNSAFE"]) == pytest.approx(float(first["P_UNSAFE"]), abs=1e-6)


def test_a_chunk_without_start_for_a_sequence_triton_holds_no_slot_for_is_refused(model: Served) -> None:
    from tritonclient.utils import InferenceServerException

    stream = _stream_id()
    with pytest.raises(InferenceServerException) as refused:
        model.chunk(stream, QUESTION, REPLY[1], len(REPLY[0]))
    assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert refused.value.message() == (
        f"inference request for sequence {stream} to model '{model.name}' must specify the START flag "
        "on the first request of the sequence"
    )
    model.chunk(stream, QUESTION, REPLY[0], 0, start=True, end=True)
    with pytest.raises(InferenceServerException, match="must specify the START flag"):
        model.chunk(stream, QUESTION, REPLY[1], len(REPLY[0]))  # its END released the slot
