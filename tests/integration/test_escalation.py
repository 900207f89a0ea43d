"""The escalation agent on the real broker: rule types, window boundaries, late and aborted
verdicts, kill -9 and restart, and a replay of 10,000 verdicts.

Each test has its own verdicts and actions topics and its own faust app id (consumer group,
keyed topic, changelog topic), and runs the agent as a real process (`guardstream escalate run`).
The verdicts topic has one partition, so the agent sees verdicts in the order they were produced
and the expected actions, late drops included, are exact; the keyed topic has several.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from guardstream.records import Action, Verdict
from guardstream.serde import encode_record
from guardstream.settings import Settings
from tests.unit.escalation.factory import MINUTE, RULES_YAML, T0, make_verdict
from tests.unit.escalation.scenario import expected_actions, generate
from workers.escalation.rules import parse_rules
from workers.escalation.sink import read_actions
from workers.kafka_clients import build_producer, build_settings_admin_client, build_transactional_producer

pytestmark = pytest.mark.integration
GUARDSTREAM = str(Path(sys.executable).with_name("guardstream"))
RULES = parse_rules(RULES_YAML)


@dataclass(frozen=True)
class Stack:
    settings: Settings
    verdicts: str
    actions: str
    app_id: str
    rules_file: Path
    log_dir: Path


@pytest.fixture()
def stack(base_settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    app_id = f"test-escalation-{suffix}"
    verdicts, actions = f"test.esc.verdicts.{suffix}", f"test.esc.actions.{suffix}"
    admin = build_settings_admin_client(base_settings.kafka)
    for future in admin.create_topics([NewTopic(verdicts, 1, 1), NewTopic(actions, 1, 1)]).values():
        future.result(timeout=30)
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES_YAML, encoding="utf-8")
    yield Stack(base_settings, verdicts, actions, app_id, rules_file, tmp_path)
    names = [verdicts, actions, f"{app_id}-keyed", f"{app_id}-windows-changelog", f"{app_id}-__assignor-__leader"]
    existing = set(admin.list_topics(timeout=10).topics)
    doomed = [name for name in names if name in existing]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            future.result(timeout=30)


class AgentProcess:
    """`guardstream escalate run` as a child process, pointed at the test's topics."""

    def __init__(self, stack: Stack, partitions: int = 3) -> None:
        self.stack = stack
        self.partitions = partitions
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS": self.stack.settings.kafka.bootstrap_servers,
            "GUARDSTREAM_TOPICS__VERDICTS": self.stack.verdicts,
            "GUARDSTREAM_TOPICS__ACTIONS": self.stack.actions,
            "GUARDSTREAM_ESCALATION_APP_ID": self.stack.app_id,
            "GUARDSTREAM_ESCALATION_PARTITIONS": str(self.partitions),
            "GUARDSTREAM_ESCALATION_ACTION_LOOKBACK_S": "0",
            "GUARDSTREAM_ESCALATION_COMMIT_INTERVAL_S": "0.5",
            "GUARDSTREAM_ESCALATION_INSTANCE_ID": f"{self.stack.app_id}-agent",
        }

    def start(self) -> None:
        self.runs += 1
        log = (self.stack.log_dir / f"agent-{self.runs}.log").open("wb")
        self.process = subprocess.Popen(
            [GUARDSTREAM, "escalate", "run", "--rules", str(self.stack.rules_file)],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self) -> str:
        return (self.stack.log_dir / f"agent-{self.runs}.log").read_text(errors="replace")[-4000:]


@pytest.fixture()
def agent(stack: Stack) -> Iterator[AgentProcess]:
    process = AgentProcess(stack)
    yield process
    process.stop()


def produce(stack: Stack, verdicts: list[Verdict]) -> None:
    producer = build_producer(stack.settings.kafka)
    for i, verdict in enumerate(verdicts):
        producer.produce(stack.verdicts, key=verdict.conversation_id.encode(), value=encode_record(verdict))
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0


def produce_aborted(stack: Stack, verdicts: list[Verdict]) -> None:
    producer = build_transactional_producer(stack.settings.kafka, f"test-escalation-abort-{uuid.uuid4().hex}")
    producer.init_transactions(30)
    producer.begin_transaction()
    for verdict in verdicts:
        producer.produce(stack.verdicts, key=verdict.conversation_id.encode(), value=encode_record(verdict))
    producer.flush(30)
    producer.abort_transaction(30)


def wait_for_actions(
    stack: Stack, agent: AgentProcess, count: int, timeout_s: float = 60.0, settle_s: float = 3.0
) -> list[Action]:
    """Actions (read_committed) once there are at least ``count``, plus ``settle_s`` for strays."""
    deadline = time.monotonic() + timeout_s
    actions = read_actions(stack.settings.kafka, stack.actions, None)
    while len(actions) < count:
        assert agent.alive(), f"agent died:\n{agent.log_tail()}"
        assert time.monotonic() < deadline, f"{len(actions)} of {count} actions after {timeout_s}s:\n{agent.log_tail()}"
        time.sleep(0.5)
        actions = read_actions(stack.settings.kafka, stack.actions, None)
    time.sleep(settle_s)
    return read_actions(stack.settings.kafka, stack.actions, None)


def tick(at_ms: int, n: int = 12) -> list[Verdict]:
    """Safe verdicts of distinct keys at ``at_ms``: they move stream time on every keyed partition."""
    return [
        make_verdict(f"tick-{at_ms}-{k}", user=f"tick-u{k}", conversation=f"tick-c{k}", label="safe", at_ms=at_ms)
        for k in range(n)
    ]


def by_key(actions: list[Action]) -> dict[tuple[str, str, int], Action]:
    out = {}
    for action in actions:
        key = action.conversation_id if action.rule_id == "review-rate" else action.user_id
        out[(action.rule_id, key or "", action.window_start_ms)] = action
    return out


def test_each_rule_type_window_boundaries_and_late_verdicts(stack: Stack, agent: AgentProcess) -> None:
    crime = {"illegal_activities": 0.9}
    verdicts = [
        # count rule: 3 unsafe of mute-me within [T0, T0+10m) → one mute; a 4th changes nothing
        *(make_verdict(f"m{i}", user="mute-me", conversation=f"mc{i}", at_ms=T0 + i * MINUTE) for i in range(4)),
        # window boundary: 2 unsafe before T0+10m and 1 after → nothing; 2 more after → a mute there
        make_verdict("b1", user="edge", at_ms=T0 + 8 * MINUTE),
        make_verdict("b2", user="edge", at_ms=T0 + 10 * MINUTE - 1),
        make_verdict("b3", user="edge", at_ms=T0 + 10 * MINUTE),
        # category rule: no category never matches; one unsafe in illegal_activities → escalate
        make_verdict("k0", user="crook", conversation="kc", at_ms=T0 + MINUTE, categories={}),
        make_verdict("k1", user="crook", conversation="kc", at_ms=T0 + 2 * MINUTE, categories=crime),
        make_verdict("k2", user="crook", conversation="kc", at_ms=T0 + 3 * MINUTE, categories=crime),
        # rate rule: conversation rv has 3 review of 4 in [T0, T0+10m) → flagged when it closes
        *(
            make_verdict(f"r{i}", user=f"ru{i}", conversation="rv", label="review", at_ms=T0 + (5 + i) * MINUTE)
            for i in range(3)
        ),
        make_verdict("r-safe", user="ru9", conversation="rv", label="safe", at_ms=T0 + 9 * MINUTE),
        # late, within grace: stream time is at T0+10m, the late-ok window closes at T0+11m
        make_verdict("l1", user="late-ok", at_ms=T0 + 1 * MINUTE),
        make_verdict("l2", user="late-ok", at_ms=T0 + 2 * MINUTE),
        *tick(T0 + 10 * MINUTE + 30_000),
        make_verdict("l3-in-grace", user="late-ok", at_ms=T0 + 3 * MINUTE),
        # late, beyond grace for the 10-minute window: stream time reaches T0+12m first
        make_verdict("d1", user="late-no", at_ms=T0 + 1 * MINUTE),
        make_verdict("d2", user="late-no", at_ms=T0 + 2 * MINUTE),
        *tick(T0 + 12 * MINUTE),
        make_verdict("d3-too-late", user="late-no", at_ms=T0 + 3 * MINUTE),
        make_verdict("b4", user="edge", at_ms=T0 + 12 * MINUTE),
        make_verdict("b5", user="edge", at_ms=T0 + 13 * MINUTE),
        *tick(T0 + 30 * MINUTE),
    ]
    agent.start()
    produce(stack, verdicts)
    actions = wait_for_actions(stack, agent, 7)
    got = by_key(actions)
    assert len(got) == len(actions) == 7, sorted(got)
    assert set(got) == {
        ("repeat-unsafe", "mute-me", T0),
        ("repeat-unsafe", "edge", T0 + 10 * MINUTE),
        ("repeat-unsafe", "late-ok", T0),
        ("repeat-unsafe", "crook", T0),  # k0 has no category but is unsafe all the same
        ("crime", "crook", T0),
        ("review-rate", "rv", T0),  # both hopping windows that hold the 3 reviews and the safe one
        ("review-rate", "rv", T0 + 5 * MINUTE),
    }
    mute = got[("repeat-unsafe", "mute-me", T0)]
    assert mute.kind == "mute" and mute.duration_ms == 3_600_000 and mute.evidence_event_ids == ("m0", "m1", "m2")
    assert mute.counts["matched"] == 3 and mute.conversation_id == "mc2"
    assert got[("repeat-unsafe", "edge", T0 + 10 * MINUTE)].evidence_event_ids == ("b3", "b4", "b5")
    assert got[("repeat-unsafe", "late-ok", T0)].evidence_event_ids == ("l1", "l2", "l3-in-grace")
    escalation = got[("crime", "crook", T0)]
    assert escalation.kind == "escalate" and escalation.evidence_event_ids == ("k1",)
    flag = got[("review-rate", "rv", T0)]
    assert flag.kind == "flag_conversation" and flag.counts["matched"] == 3 and flag.counts["total"] == 4
    assert ("repeat-unsafe", "late-no", T0) not in got

    status = subprocess.run(
        [GUARDSTREAM, "escalate", "status", "--rules", str(stack.rules_file), "--json"],
        env=agent.env(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    shown = json.loads(status.stdout)
    assert [rule["id"] for rule in shown["rules"]] == ["repeat-unsafe", "crime", "review-rate"]
    assert shown["late_verdicts"] >= 1
    hottest = [row["key"] for row in shown["hottest_users"]]
    # Stream time is at T0+30m: only the users' 1-hour windows are still open.
    assert set(hottest[:5]) == {"mute-me", "edge", "crook", "late-ok", "late-no"}
    assert hottest[0] == "edge" and shown["hottest_users"][0]["unsafe"] == 5
    assert set(hottest[5:]) == {"ru0", "ru1", "ru2"}, "review only users come after those with unsafe verdicts"


def test_verdicts_of_aborted_transactions_are_never_counted(stack: Stack, agent: AgentProcess) -> None:
    agent.start()
    produce_aborted(stack, [make_verdict(f"aborted{i}", user="ab", at_ms=T0 + i) for i in range(3)])
    produce(stack, [make_verdict("c1", user="ab", at_ms=T0 + 10), make_verdict("c2", user="ab", at_ms=T0 + 11)])
    produce(stack, tick(T0 + MINUTE))
    time.sleep(6)
    assert read_actions(stack.settings.kafka, stack.actions, None) == [], agent.log_tail()
    produce(stack, [make_verdict("c3", user="ab", at_ms=T0 + 12)])
    (action,) = wait_for_actions(stack, agent, 1)
    assert action.evidence_event_ids == ("c1", "c2", "c3")


def test_kill_9_mid_stream_then_restart_loses_and_repeats_no_action(stack: Stack, agent: AgentProcess) -> None:
    scenario = generate(4000, seed=11)
    expected = expected_actions(scenario, RULES)
    agent.start()
    produce(stack, scenario.verdicts)
    kills = 0
    for threshold in (len(expected) // 4, len(expected) // 2):
        deadline = time.monotonic() + 180
        while len(read_actions(stack.settings.kafka, stack.actions, None)) < threshold:
            assert agent.alive(), agent.log_tail()
            assert time.monotonic() < deadline, agent.log_tail()
            time.sleep(0.2)
        agent.kill9()
        kills += 1
        agent.start()
    actions = wait_for_actions(stack, agent, len(expected), timeout_s=240, settle_s=5)
    ids = [a.action_id for a in actions]
    assert kills == 2
    assert len(ids) == len(set(ids)), "an action was produced twice"
    got = by_key(actions)
    assert set(got) == set(expected), (sorted(set(expected) - set(got))[:5], sorted(set(got) - set(expected))[:5])
    for key, action in got.items():
        if action.rule_id != "review-rate":
            assert list(action.evidence_event_ids) == expected[key]


def test_replay_of_10000_verdicts_produces_exactly_the_expected_actions(stack: Stack, agent: AgentProcess) -> None:
    scenario = generate(10_000, seed=7)
    expected = expected_actions(scenario, RULES)
    assert {rule for rule, _, _ in expected} == {"repeat-unsafe", "crime", "review-rate"}
    produce(stack, scenario.verdicts)
    started = time.monotonic()
    agent.start()
    actions = wait_for_actions(stack, agent, len(expected), timeout_s=240, settle_s=3)
    elapsed = time.monotonic() - started - 3
    got = by_key(actions)
    assert len(actions) == len(got) == len(expected)
    assert set(got) == set(expected)
    for key, action in got.items():
        if action.rule_id != "review-rate":
            assert list(action.evidence_event_ids) == expected[key]
    print(f"replay: {len(scenario.verdicts)} verdicts → {len(actions)} actions in {elapsed:.1f}s")
