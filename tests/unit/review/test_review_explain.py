"""On-demand explanations: generic reasons for reviewers, details only in the log, the lease
holder only, a per-reviewer rate limit."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from guardstream.audit.engine import build_engine
from guardstream.settings import TritonSettings
from tests.unit.review.app_client import log_in, make_client
from workers.review.explain import ExplanationUnavailable, TritonExplainer


class CountingExplainer:
    """Counts the requests that reach the model; it never has an analysis."""

    def __init__(self) -> None:
        self.calls = 0

    def explain(self, question: str, response: str) -> str:
        self.calls += 1
        raise ExplanationUnavailable("the model returned no output")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_failed_explanation_tells_the_reviewer_a_generic_reason_and_only_the_log_where(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    address = f"127.0.0.1:{closed_port()}"
    explainer = TritonExplainer(TritonSettings(grpc_url=address, request_timeout_s=5))
    client, svc = make_client(build_engine(f"sqlite:///{tmp_path / 'audit.db'}"), explainer=explainer)
    _, csrf = log_in(client)
    client.post("/review/event-1/claim", data={"csrf_token": csrf})
    with caplog.at_level(logging.WARNING, logger="workers.review.explain"):
        page = client.post("/review/event-1/explain", data={"csrf_token": csrf})
    assert page.status_code == 200
    assert "explanation unavailable: the model server could not explain this item" in page.text
    assert address not in page.text and "127.0.0.1" not in page.text
    (failed,) = svc.trail.actions(action="explain_failed")
    assert address not in str(failed) and failed["detail"] == {"reason": "the model server could not explain this item"}
    assert address in caplog.text


def test_only_the_reviewer_holding_the_item_may_ask_for_an_explanation(tmp_path: Path) -> None:
    explainer = CountingExplainer()
    engine = build_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    alice, svc = make_client(engine, explainer=explainer)
    root, _ = make_client(engine, explainer=explainer)
    _, alice_csrf = log_in(alice)
    _, root_csrf = log_in(root, "root")
    alice.post("/review/event-1/claim", data={"csrf_token": alice_csrf})
    for who, csrf, event in ((root, root_csrf, "event-1"), (alice, alice_csrf, "event-2")):
        refused = who.post(f"/review/{event}/explain", data={"csrf_token": csrf})
        assert refused.status_code == 409 and "take the item first" in refused.text
    assert explainer.calls == 0
    assert alice.post("/review/event-1/explain", data={"csrf_token": alice_csrf}).status_code == 200
    assert explainer.calls == 1
    assert [a["detail"] for a in svc.trail.actions(action="explain_refused")] == [{"reason": "not_leased"}] * 2


def test_explanations_are_rate_limited_per_reviewer(tmp_path: Path) -> None:
    explainer = CountingExplainer()
    engine = build_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    alice, svc = make_client(engine, explainer=explainer, explain_max_requests=2, explain_window_s=600)
    root, _ = make_client(engine, explainer=explainer, explain_max_requests=2, explain_window_s=600)
    _, alice_csrf = log_in(alice)
    _, root_csrf = log_in(root, "root")
    alice.post("/review/event-1/claim", data={"csrf_token": alice_csrf})
    root.post("/review/event-2/claim", data={"csrf_token": root_csrf})
    answers = [alice.post("/review/event-1/explain", data={"csrf_token": alice_csrf}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "too many explanation requests" in answers[2].text and int(answers[2].headers["retry-after"]) > 0
    assert explainer.calls == 2
    assert root.post("/review/event-2/explain", data={"csrf_token": root_csrf}).status_code == 200
    assert explainer.calls == 3
    assert [a["detail"] for a in svc.trail.actions(action="explain_refused")] == [{"reason": "rate_limited"}]
