"""The review app behind a reverse proxy: X-Forwarded-For/-Proto count only from a trusted proxy,
and the login limits key on the real client, whatever a client writes into those headers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from guardstream.audit.engine import build_engine
from guardstream.errors import ConfigurationError
from tests.unit.review.app_client import PASSWORD, log_in, make_client
from workers.review.app import create_app
from workers.review.server import uvicorn_options
from workers.review.services import ReviewServices
from workers.review.settings import load_review_settings

PROXY = "10.0.0.5"
CLIENT = "203.0.113.7"
WRONG = "wrong password!"
# make_client allows 3 failed logins per (address, username): the 4th attempt tells.


@pytest.fixture()
def sqlite(tmp_path: Path) -> Engine:
    """The tests whose outcome does not depend on the database run on SQLite only."""
    return build_engine(f"sqlite:///{tmp_path / 'audit.db'}")


def via(client: TestClient, peer: str, **headers: str | bytes) -> TestClient:
    """The app as reached from ``peer`` (the connection's address), with these headers on every request."""
    return TestClient(
        client.app,
        base_url=str(client.base_url),
        client=(peer, 40000),
        raise_server_exceptions=False,
        headers={name.replace("_", "-"): value for name, value in headers.items()},  # type: ignore[arg-type]  # bytes: a header no proxy should send
    )


def logged_ips(svc: ReviewServices, action: str) -> list[str]:
    return [a["ip"] for a in svc.trail.actions(action=action)]


@pytest.mark.parametrize("trusted", [(), (PROXY,)], ids=["no-proxy-trusted", "another-peer-trusted"])
def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored_and_does_not_escape_the_limit(
    engine: Engine, trusted: tuple[str, ...]
) -> None:
    client, svc = make_client(engine, trusted_proxies=trusted)
    attempts = [log_in(via(client, CLIENT, x_forwarded_for=f"198.51.100.{i}"), "alice", WRONG)[0] for i in range(3)]
    assert attempts == [401, 401, 401]
    assert log_in(via(client, CLIENT, x_forwarded_for="198.51.100.99"), "alice", PASSWORD)[0] == 429
    assert set(logged_ips(svc, "login_failed") + logged_ips(svc, "login_blocked")) == {CLIENT}


def test_through_a_trusted_proxy_each_real_client_has_its_own_limit(sqlite: Engine) -> None:
    client, svc = make_client(sqlite, trusted_proxies=(PROXY,))
    assert [log_in(via(client, PROXY, x_forwarded_for=CLIENT), "alice", WRONG)[0] for _ in range(3)] == [401] * 3
    assert log_in(via(client, PROXY, x_forwarded_for=CLIENT), "alice", PASSWORD)[0] == 429
    assert log_in(via(client, PROXY, x_forwarded_for="203.0.113.8"), "alice", PASSWORD)[0] == 200
    assert logged_ips(svc, "login_failed") == [CLIENT] * 3 and logged_ips(svc, "login") == ["203.0.113.8"]


@pytest.mark.parametrize(
    ("peer", "trusted", "chain"),
    [
        (PROXY, (PROXY,), "{forged}, " + CLIENT),
        (PROXY, ("10.0.0.0/24",), "{forged}, " + CLIENT + ", 10.0.0.6"),  # two proxies, each appending
        (PROXY, (PROXY,), "{forged}, 10.0.0.6, " + CLIENT),  # a forged "proxy" left of the real client
    ],
    ids=["one-proxy", "two-proxies", "forged-proxy-entry"],
)
def test_a_client_rotating_a_forged_left_most_address_through_a_trusted_proxy_is_still_limited(
    sqlite: Engine, peer: str, trusted: tuple[str, ...], chain: str
) -> None:
    client, svc = make_client(sqlite, trusted_proxies=trusted)
    forged = [chain.format(forged=f"198.51.100.{i}") for i in range(4)]
    assert [log_in(via(client, peer, x_forwarded_for=value), "alice", WRONG)[0] for value in forged[:3]] == [401] * 3
    assert log_in(via(client, peer, x_forwarded_for=forged[3]), "alice", PASSWORD)[0] == 429
    assert set(logged_ips(svc, "login_failed")) == {CLIENT}


MALFORMED_AND_ODD_SPELLINGS: list[tuple[str | bytes, str]] = [
    ("", PROXY),
    (",, ,", PROXY),
    (f"{CLIENT} , ", PROXY),  # the right-most entry is empty: nothing usable, the proxy stays the client
    ("not-an-address", "unknown"),
    ("x" * 300, "unknown"),
    (b"\xff\xfe\x80", "unknown"),
    (f"{CLIENT}:4711", CLIENT),
    ("[2001:db8::7]:443", "2001:db8::7"),
    ("2001:DB8:0:0::7", "2001:db8::7"),
    ("::ffff:203.0.113.9", "203.0.113.9"),
]


def test_malformed_forwarded_for_from_a_trusted_proxy_is_answered_and_keyed_in_one_spelling(engine: Engine) -> None:
    """On PostgreSQL too: the audit log's address column holds 64 characters."""
    client, svc = make_client(engine, trusted_proxies=(PROXY,))
    for forwarded_for, key in MALFORMED_AND_ODD_SPELLINGS:
        assert log_in(via(client, PROXY, x_forwarded_for=forwarded_for), "alice", WRONG)[0] == 401, forwarded_for
        assert svc.trail.actions(limit=1, action="login_failed")[0]["ip"] == key, forwarded_for


def test_junk_rotated_by_a_hop_that_forwards_what_it_was_sent_shares_one_limit(sqlite: Engine) -> None:
    client, _ = make_client(sqlite, trusted_proxies=(PROXY,))
    assert [log_in(via(client, PROXY, x_forwarded_for=f"junk-{i}"), "alice", WRONG)[0] for i in range(3)] == [401] * 3
    assert log_in(via(client, PROXY, x_forwarded_for="junk-99"), "alice", PASSWORD)[0] == 429


def test_forwarded_proto_counts_for_the_origin_check_only_from_a_trusted_proxy(sqlite: Engine) -> None:
    client, _ = make_client(sqlite, trusted_proxies=(PROXY,))
    for peer, proto, accepted in [
        (PROXY, "https", True),
        (CLIENT, "https", False),
        (PROXY, "https, http", False),
        (PROXY, "gopher", False),
    ]:
        behind = via(client, peer, x_forwarded_proto=proto, x_forwarded_for=CLIENT, origin="https://testserver")
        assert log_in(behind)[0] == (200 if accepted else 403), (peer, proto)


def test_forwarded_host_is_never_believed_the_host_header_is_checked(sqlite: Engine) -> None:
    client, _ = make_client(sqlite, trusted_proxies=(PROXY,))
    behind = via(client, PROXY, x_forwarded_for=CLIENT)
    assert (
        behind.get("/login", headers={"host": "backend.internal:8080", "x-forwarded-host": "testserver"}).status_code
        == 400
    )
    assert behind.get("/login", headers={"x-forwarded-host": "evil.example"}).status_code == 200


@pytest.mark.parametrize("value", ["*", "0.0.0.0/0", "::/0", "10.0.0.1/8", "10.0.0.0/33", "proxy.internal", ""])
def test_trusted_proxies_refuse_anything_but_addresses_and_networks_of_proxies(value: str) -> None:
    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        load_review_settings(trusted_proxies=[value])


def test_trusted_proxies_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDSTREAM_REVIEW__TRUSTED_PROXIES", '["10.0.0.5", "10.1.0.0/16", "2001:db8::/32"]')
    assert [str(net) for net in load_review_settings().trusted_proxies] == [
        "10.0.0.5/32",
        "10.1.0.0/16",
        "2001:db8::/32",
    ]
    assert load_review_settings(trusted_proxies=[]).trusted_proxies == ()


@contextmanager
def served(svc: ReviewServices) -> Iterator[str]:
    """The app under a real uvicorn, started as ``guardstream review serve`` starts it, on a free port."""
    options: dict[str, Any] = {**uvicorn_options(svc.settings), "host": "127.0.0.1", "port": 0}
    server = uvicorn.Server(uvicorn.Config(create_app(svc), log_level="warning", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_served_by_uvicorn_only_the_apps_trusted_proxies_count(sqlite: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's own proxy handling (127.0.0.1 or $FORWARDED_ALLOW_IPS) must not believe a header the app would not."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    _, svc = make_client(sqlite, allowed_hosts=("127.0.0.1",))
    with served(svc) as url:
        forged = [
            httpx.Client(base_url=url, headers={"x-forwarded-for": f"198.51.100.{i}"}, follow_redirects=True)
            for i in range(4)
        ]
        assert [log_in(c, "alice", WRONG)[0] for c in forged[:3]] == [401] * 3
        assert log_in(forged[3], "alice", PASSWORD)[0] == 429
    assert set(logged_ips(svc, "login_failed")) == {"127.0.0.1"}


def test_served_by_uvicorn_behind_a_trusted_proxy_clients_are_told_apart(sqlite: Engine) -> None:
    _, svc = make_client(sqlite, allowed_hosts=("127.0.0.1",), trusted_proxies=("127.0.0.1",))
    with served(svc) as url:

        def from_client(chain: str) -> httpx.Client:
            return httpx.Client(base_url=url, headers={"x-forwarded-for": chain}, follow_redirects=True)

        assert [log_in(from_client(f"198.51.100.{i}, {CLIENT}"), "alice", WRONG)[0] for i in range(3)] == [401] * 3
        assert log_in(from_client(f"198.51.100.9, {CLIENT}"), "alice", PASSWORD)[0] == 429
        assert log_in(from_client("203.0.113.8"), "alice", PASSWORD)[0] == 200
    assert logged_ips(svc, "login_failed") == [CLIENT] * 3 and logged_ips(svc, "login") == ["203.0.113.8"]
