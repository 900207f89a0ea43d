"""Failed Triton requests are sorted by gRPC status code alone: only INVALID_ARGUMENT blames the records."""

from __future__ import annotations

import queue
import socket

import grpc
import pytest
from tritonclient.utils import InferenceServerException

from guardstream.errors import PermanentError, RetriableError
from guardstream.settings import TritonSettings
from workers.triton_client import GuardModelClient, InferenceOutcome, classify, retry_reason


def _error(code: grpc.StatusCode, message: str) -> InferenceServerException:
    """The exception tritonclient raises for a failed RPC: the status is ``str(rpc_error.code())``."""
    return InferenceServerException(msg=message, status=str(code))


def test_invalid_argument_is_the_only_status_that_blames_the_request() -> None:
    rejected = classify(_error(grpc.StatusCode.INVALID_ARGUMENT, "input QUESTION must have shape [batch, 1]"))
    assert isinstance(rejected, PermanentError)
    others = [code for code in grpc.StatusCode if code not in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT)]
    assert [code for code in others if not isinstance(classify(_error(code, "failed")), RetriableError)] == []


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        # a model failure whose text looks like nothing a list of phrases would know
        (grpc.StatusCode.INTERNAL, "guard model failed: CUDA error: an illegal memory access", RetriableError),
        (grpc.StatusCode.UNAVAILABLE, "guard model failed: input too long", RetriableError),
        # a rejected request whose text reads like an outage
        (grpc.StatusCode.INVALID_ARGUMENT, "model is not ready: connect failed, socket closed", PermanentError),
    ],
)
def test_the_message_text_never_changes_the_decision(
    code: grpc.StatusCode, message: str, expected: type[Exception]
) -> None:
    decided = classify(_error(code, message))
    assert isinstance(decided, expected)
    assert message in str(decided)


def test_an_error_without_a_status_or_a_missing_result_is_retried() -> None:
    assert isinstance(classify(InferenceServerException(msg="unexpected inference output")), RetriableError)
    assert isinstance(classify(None), RetriableError)


def test_a_retry_is_counted_under_the_status_that_caused_it() -> None:
    reasons = {
        code: retry_reason(classify(_error(code, "failed")))
        for code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED)
    }
    assert reasons == {
        grpc.StatusCode.UNAVAILABLE: "unavailable",
        grpc.StatusCode.INTERNAL: "internal",
        grpc.StatusCode.DEADLINE_EXCEEDED: "deadline_exceeded",
    }
    assert retry_reason(classify(None)) == "no_status"
    assert retry_reason(RetriableError("Triton at 127.0.0.1:1 unavailable")) == "unavailable"


def test_a_server_that_cannot_be_reached_is_retried_not_rejected() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = GuardModelClient(TritonSettings(grpc_url=f"127.0.0.1:{port}", model_version="1", request_timeout_s=5))
    outcomes: queue.SimpleQueue[InferenceOutcome] = queue.SimpleQueue()
    try:
        client.submit([("你好", "")], outcomes.put)
        outcome = outcomes.get(timeout=10)
    finally:
        client.close()
    assert outcome.p_unsafe is None
    assert isinstance(outcome.error, RetriableError) and "StatusCode.UNAVAILABLE" in str(outcome.error)
