"""Policies in the worker: blocklists before the model, each tenant's own policy, a shadow policy
that is never published, and blocklist changes picked up while the worker runs."""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition

from guardstream.blocklist.matcher import BlocklistMatcher
from guardstream.blocklist.model import Blocklist, BlocklistTerm, ListEffect
from guardstream.errors import DependencyUnavailableError
from guardstream.guard.categories import HarmCategory
from guardstream.policy import ModelUnavailable, Policy, Thresholds
from guardstream.records import Decider, VerdictLabel
from tests.support.worker_fakes import TOPIC, FakeConsumer, FakeMessage, FakeModel, FakeSink, chat_event, fake_worker
from workers.moderation.blocklists import LiveBlocklists
from workers.moderation.screening import Screener

ABUSE = HarmCategory.HATE_ABUSE


class StoredLists:
    """The audit store's blocklists as the worker sees them; ``down`` makes it unreachable."""

    def __init__(self, *lists: Blocklist) -> None:
        self.stored = list(lists)
        self.down = False
        self.reads = 0

    def versions(self) -> dict[str, int]:
        if self.down:
            raise DependencyUnavailableError("audit", "audit store unavailable")
        return {blocklist.name: blocklist.version for blocklist in self.stored}

    def lists(self) -> list[Blocklist]:
        self.reads += 1
        return list(self.stored)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def live(source: StoredLists, clock: Clock | None = None) -> LiveBlocklists:
    """The lists as a worker holds them once started (it loads them before its first event)."""
    blocklists = LiveBlocklists(source, BlocklistMatcher.build, refresh_s=5.0, clock=clock or Clock())
    blocklists.refresh()
    return blocklists


def verdicts_of(sink: FakeSink) -> dict[str, object]:
    return {v.event_id: v for outputs in sink.commits for _, _, v in outputs.verdicts}


def test_an_event_a_list_decides_is_never_sent_to_the_model(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    lists = StoredLists(Blocklist("abuse", 3, terms=(BlocklistTerm("傻逼", ABUSE),)))
    policy = Policy("p1", 0.5, 0.3)
    fake_consumer.messages = [FakeMessage(chat_event(0, "你好"), 0), FakeMessage(chat_event(1, "你个 sha bi"), 1)]
    fake_worker(fake_consumer, fake_sink, fake_model, policy=policy, screener=Screener(policy, None, live(lists))).run()
    assert fake_model.questions == ["你好"]
    verdicts = verdicts_of(fake_sink)
    listed = verdicts["e1"]
    assert (listed.decided_by, listed.label, listed.model_name, listed.model_version) == (  # type: ignore[attr-defined]
        Decider.BLOCKLIST, VerdictLabel.UNSAFE, "blocklist", "abuse@3",
    )  # fmt: skip
    assert [(h.term, h.variant) for h in listed.blocklist_hits] == [("傻逼", "pinyin")]  # type: ignore[attr-defined]
    assert verdicts["e0"].decided_by is Decider.MODEL  # type: ignore[attr-defined]
    assert [v.event_id for o in fake_sink.commits for _, _, v in o.flagged] == ["e1"]


def test_a_raising_list_lets_the_model_judge_and_lifts_its_score(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    raising = Blocklist(
        "watch", 1, ListEffect.RAISE, raise_to=0.4, terms=(BlocklistTerm("刷单", HarmCategory.ILLEGAL_ACTIVITIES),)
    )
    policy = Policy("p1", 0.5, 0.3)
    fake_consumer.messages = [FakeMessage(chat_event(0, "招人刷单"), 0)]
    screener = Screener(policy, None, live(StoredLists(raising)))
    fake_worker(fake_consumer, fake_sink, fake_model, policy=policy, screener=screener).run()
    assert fake_model.questions == ["招人刷单"]
    (verdict,) = verdicts_of(fake_sink).values()
    assert (verdict.decided_by, verdict.p_unsafe, verdict.label) == (Decider.MODEL, 0.4, VerdictLabel.REVIEW)  # type: ignore[attr-defined]


def test_each_tenant_is_judged_by_its_own_policy_and_band(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    strict = Policy("strict-1", 0.1, 0.05, id="strict", escalate_band=(0.0, 0.5))
    policy = Policy("p1", 0.5, 0.3, scopes={("acme", None): strict})
    fake_consumer.messages = [
        FakeMessage(chat_event(0, "短" * 20, {"tenant": "acme"}), 0),
        FakeMessage(chat_event(1, "短" * 20, {"tenant": "globex"}), 1),
    ]
    screener = Screener(policy, None, live(StoredLists()))
    fake_worker(fake_consumer, fake_sink, fake_model, policy=policy, screener=screener).run()
    verdicts = verdicts_of(fake_sink)
    acme, globex = verdicts["e0"], verdicts["e1"]
    assert (acme.policy_id, acme.policy_version, acme.label) == ("strict", "strict-1", VerdictLabel.UNSAFE)  # type: ignore[attr-defined]
    assert (globex.policy_id, globex.policy_version, globex.label) == ("global", "p1", VerdictLabel.SAFE)  # type: ignore[attr-defined]
    assert [band(0.2, None) for band in fake_model.bands] == [True, False]  # each pair's own escalation band


def test_a_shadow_policy_is_recorded_beside_the_verdict_and_never_published(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    policy = Policy("p1", 0.5, 0.3)
    shadow = Policy("s1", 0.1, 0.05, {ABUSE: Thresholds(unsafe_threshold=0.9, review_threshold=0.8)})
    lists = StoredLists(Blocklist("abuse", 2, terms=(BlocklistTerm("傻逼", ABUSE),)))
    fake_consumer.messages = [FakeMessage(chat_event(0, "短" * 20), 0), FakeMessage(chat_event(1, "傻逼"), 1)]
    screener = Screener(policy, shadow, live(lists))
    fake_worker(fake_consumer, fake_sink, fake_model, policy=policy, shadow=shadow, screener=screener).run()
    verdicts = verdicts_of(fake_sink)
    assert {v.policy_version for v in verdicts.values()} == {"p1"}  # type: ignore[attr-defined]
    shadows = {d.event_id: d for outputs in fake_sink.commits for d in outputs.shadows}
    assert (shadows["e0"].label, shadows["e0"].acting_label, shadows["e0"].disagrees) == (
        VerdictLabel.UNSAFE, VerdictLabel.SAFE, True,
    )  # fmt: skip
    assert (shadows["e1"].decided_by, shadows["e1"].policy_version, shadows["e1"].disagrees) == (
        Decider.BLOCKLIST, "s1", False,
    )  # fmt: skip
    assert fake_model.questions == ["短" * 20]  # the list decides e1 under both policies


def test_a_changed_list_is_reloaded_after_the_refresh_period_and_kept_while_the_store_is_away() -> None:
    clock, lists = Clock(), StoredLists(Blocklist("abuse", 1, terms=(BlocklistTerm("傻逼", ABUSE),)))
    blocklists = live(lists, clock)
    blocklists.refresh()
    assert [[h.term.term for h in hits] for hits in blocklists.find(["傻逼", "笨蛋"])] == [["傻逼"], []]
    lists.stored = [Blocklist("abuse", 2, terms=(BlocklistTerm("笨蛋", ABUSE),))]
    clock.now = 4.9
    blocklists.refresh()
    assert blocklists.versions == {"abuse": 1}  # not yet asked again
    clock.now = 5.0
    blocklists.refresh()
    assert blocklists.versions == {"abuse": 2}
    assert [[h.term.term for h in hits] for hits in blocklists.find(["傻逼", "笨蛋"])] == [[], ["笨蛋"]]
    reads = lists.reads
    clock.now = 10.0
    blocklists.refresh()
    assert lists.reads == reads  # the versions did not change: nothing is read again
    lists.down, clock.now = True, 15.0
    blocklists.refresh()
    assert blocklists.versions == {"abuse": 2}
    assert blocklists.find(["笨蛋"])[0][0].list_version == 2


@pytest.mark.parametrize("stored", [[], [Blocklist("empty", 1)]])
def test_no_terms_no_matching(stored: list[Blocklist]) -> None:
    blocklists = live(StoredLists(*stored))
    blocklists.refresh()
    assert blocklists.find(["傻逼"]) == [[]]


REJUDGE = "moderation.rejudge"
FALLBACK = Policy("fb-1", 0.5, 0.3, model_unavailable=ModelUnavailable.FALLBACK, fallback_after_s=0.05)


def fallback_worker(consumer: FakeConsumer, sink: FakeSink, model: FakeModel, policy: Policy, lists: StoredLists):  # type: ignore[no-untyped-def]
    consumer.assignment = [TopicPartition(TOPIC, 0), TopicPartition(REJUDGE, 0)]
    screener = Screener(policy, None, live(lists))
    return fake_worker(consumer, sink, model, policy=policy, screener=screener, rejudge_topic=REJUDGE)


def test_past_the_deadline_a_fallback_policy_gives_review_verdicts_and_sends_the_events_to_be_judged_again(
    fake_consumer: FakeConsumer, fake_sink: FakeSink
) -> None:
    model = FakeModel(outages=10**9)  # the model never answers
    lists = StoredLists(
        Blocklist(
            "watch", 2, ListEffect.RAISE, raise_to=0.45, terms=(BlocklistTerm("刷单", HarmCategory.ILLEGAL_ACTIVITIES),)
        )
    )
    fake_consumer.messages = [FakeMessage(chat_event(0, "你好"), 0), FakeMessage(chat_event(1, "招人刷单"), 1)]
    fallback_worker(fake_consumer, fake_sink, model, FALLBACK, lists).run()
    verdicts = verdicts_of(fake_sink)
    assert {v.decided_by for v in verdicts.values()} == {Decider.FALLBACK}  # type: ignore[attr-defined]
    assert {v.label for v in verdicts.values()} == {VerdictLabel.REVIEW}  # type: ignore[attr-defined]
    assert [(v.p_unsafe, v.model_name) for v in verdicts.values()] == [(0.3, "fallback"), (0.45, "fallback")]  # type: ignore[attr-defined]
    assert [h.term for h in verdicts["e1"].blocklist_hits] == ["刷单"]  # type: ignore[attr-defined]
    assert [event.event_id for o in fake_sink.commits for _, event in o.rejudge] == ["e0", "e1"]
    assert fake_sink.positions[-1] == {(TOPIC, 0): 2}


def test_a_waiting_policy_never_falls_back(fake_consumer: FakeConsumer, fake_sink: FakeSink) -> None:
    model = FakeModel(outages=40)
    waiting = Policy("w-1", 0.5, 0.3, fallback_after_s=0.001)  # model_unavailable: wait
    fake_consumer.messages = [FakeMessage(chat_event(0, "你好"), 0)]
    fallback_worker(fake_consumer, fake_sink, model, waiting, StoredLists()).run()
    (verdict,) = verdicts_of(fake_sink).values()
    assert verdict.decided_by is Decider.MODEL and model.outages == 0  # type: ignore[attr-defined]
    assert [item for o in fake_sink.commits for item in o.rejudge] == []


def test_an_event_read_again_gets_the_models_verdict_as_revision_one_or_waits_its_turn_again(
    fake_consumer: FakeConsumer, fake_sink: FakeSink
) -> None:
    again = [FakeMessage(chat_event(0, "短" * 60), 7, _topic=REJUDGE)]
    fake_consumer.messages = list(again)
    fallback_worker(fake_consumer, fake_sink, FakeModel(), FALLBACK, StoredLists()).run()
    assert verdicts_of(fake_sink) == {}  # no second verdict: a revision
    [(_, _, revision)] = [item for o in fake_sink.commits for item in o.revisions]
    assert (revision.revision, revision.decided_by, revision.label, revision.source_topic) == (
        1, Decider.MODEL, VerdictLabel.UNSAFE, REJUDGE,
    )  # fmt: skip

    still_away, sink = FakeConsumer(messages=list(again)), FakeSink()
    fallback_worker(still_away, sink, FakeModel(outages=10**9), FALLBACK, StoredLists()).run()
    assert [item for o in sink.commits for item in o.revisions] == [] and verdicts_of(sink) == {}
    assert [event.event_id for o in sink.commits for _, event in o.rejudge] == ["e0"]  # back in the queue
    assert sink.positions[-1] == {(REJUDGE, 0): 8}
