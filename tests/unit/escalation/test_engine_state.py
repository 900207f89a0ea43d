"""The engine's per-key state: how a verdict becomes observations, how observe counts it into
windows (exact window edges, lateness, redelivery) and the JSON form the table stores."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardstream.records import Decider
from tests.unit.escalation.factory import MINUTE, RULES_YAML, T0, make_verdict
from workers.escalation.engine import (
    KeyState,
    Observation,
    ObserveOutcome,
    WindowCounts,
    observations,
    observe,
    split_window_key,
    state_key,
    window_key,
)
from workers.escalation.rules import RuleSet, parse_rules


@pytest.fixture()
def rules() -> RuleSet:
    return parse_rules(RULES_YAML)


def _user(event_id: str, *, offset: int, at_ms: int, partition: int = 0, **kwargs: object) -> Observation:
    return observations(make_verdict(event_id, at_ms=at_ms, **kwargs), partition, offset)[0]  # type: ignore[arg-type]


def _conversation(event_id: str, *, offset: int, at_ms: int, partition: int = 0, **kwargs: object) -> Observation:
    return observations(make_verdict(event_id, at_ms=at_ms, **kwargs), partition, offset)[1]  # type: ignore[arg-type]


# --- observations -------------------------------------------------------------------------------


def test_a_verdict_is_seen_by_the_user_and_the_conversation_scope_with_the_other_id_as_counterpart() -> None:
    verdict = make_verdict("e1", user="u7", conversation="c9", label="review", at_ms=T0 + 5)
    user, conversation = observations(verdict, 3, 17)
    common = {
        "event_id": "e1",
        "label": "review",
        "categories": {},
        "policy": "global",
        "event_time_ms": T0 + 5,
        "source_partition": 3,
        "source_offset": 17,
    }
    assert user == Observation(scope="user", key="u7", counterpart="c9", **common)  # type: ignore[arg-type]
    assert conversation == Observation(scope="conversation", key="c9", counterpart="u7", **common)  # type: ignore[arg-type]


def test_a_fallback_verdict_is_not_observed_and_a_verdict_names_its_policy() -> None:
    verdict = make_verdict("e1", label="review", at_ms=T0)
    assert observations(dataclasses.replace(verdict, decided_by=Decider.FALLBACK), 0, 1) == []
    revised = dataclasses.replace(verdict, revision=1, decided_by=Decider.MODEL, policy_id="kids-rooms")
    assert {obs.policy for obs in observations(revised, 0, 2)} == {"kids-rooms"}


def test_categories_are_normalised_and_a_category_named_twice_keeps_its_highest_score() -> None:
    verdict = make_verdict("e1", categories={"违法犯罪": 0.9, " Illegal_Activities ": 0.3, "Hate_Abuse": 0.4})
    user, conversation = observations(verdict, 0, 0)
    assert user.categories == {"illegal_activities": 0.9, "hate_abuse": 0.4}
    assert conversation.categories == user.categories
    low_first = make_verdict("e2", categories={"illegal_activities": 0.2, "违法犯罪": 0.7})
    assert observations(low_first, 0, 0)[0].categories == {"illegal_activities": 0.7}


def test_table_and_window_keys_name_scope_and_rule_and_split_back() -> None:
    assert state_key("user", "u1") == "user:u1"
    assert state_key("conversation", "c1") == "conversation:c1"
    assert window_key("repeat-unsafe", T0) == f"repeat-unsafe@{T0}"
    assert split_window_key(f"repeat-unsafe@{T0}") == ("repeat-unsafe", T0)
    assert split_window_key("a@b@-600000") == ("a@b", -600_000), "the start is what follows the last @"


@given(rule_id=st.text(min_size=1, max_size=12), start=st.integers(min_value=-(2**62), max_value=2**62))
def test_split_window_key_inverts_window_key(rule_id: str, start: int) -> None:
    assert split_window_key(window_key(rule_id, start)) == (rule_id, start)


# --- JSON form of the state ---------------------------------------------------------------------


def _busy_counts() -> WindowCounts:
    return WindowCounts(
        start_ms=T0,
        end_ms=T0 + 10 * MINUTE,
        total=5,
        matched=3,
        labels={"unsafe": 3, "safe": 2},
        categories={"hate_abuse": 2, "uncategorized": 3},
        evidence=["e1", "e2", "e3"],
        counterpart="c4",
        fired=True,
    )


def test_window_counts_are_stored_under_short_keys() -> None:
    assert _busy_counts().to_json() == {
        "s": T0,
        "e": T0 + 10 * MINUTE,
        "n": 5,
        "m": 3,
        "l": {"unsafe": 3, "safe": 2},
        "c": {"hate_abuse": 2, "uncategorized": 3},
        "ev": ["e1", "e2", "e3"],
        "cp": "c4",
        "f": True,
    }


def test_a_window_state_survives_a_json_round_trip_unchanged() -> None:
    counts = _busy_counts()
    assert WindowCounts.from_json(json.loads(json.dumps(counts.to_json()))) == counts
    fresh = WindowCounts(start_ms=T0, end_ms=T0 + MINUTE)
    assert WindowCounts.from_json(json.loads(json.dumps(fresh.to_json()))) == fresh


def test_a_window_stored_without_counterpart_or_fired_flag_reads_as_unfired_without_counterpart() -> None:
    stored = {"s": 0, "e": 600_000, "n": 2, "m": 1, "l": {"unsafe": 1, "safe": 1}, "c": {}, "ev": ["e1"]}
    assert WindowCounts.from_json(stored) == WindowCounts(
        0, 600_000, 2, 1, {"unsafe": 1, "safe": 1}, {}, ["e1"], None, False
    )


def test_counts_report_matched_total_each_label_and_each_prefixed_category() -> None:
    assert _busy_counts().counts() == {
        "matched": 3,
        "total": 5,
        "unsafe": 3,
        "safe": 2,
        "category:hate_abuse": 2,
        "category:uncategorized": 3,
    }
    assert WindowCounts(0, 1).counts() == {"matched": 0, "total": 0}


def test_a_key_state_is_stored_as_partition_sources_and_windows_and_survives_a_round_trip() -> None:
    state = KeyState(partition=2, sources={"0": 5, "3": 9}, windows={f"repeat-unsafe@{T0}": _busy_counts()})
    assert state.to_json() == {"p": 2, "src": {"0": 5, "3": 9}, "w": {f"repeat-unsafe@{T0}": _busy_counts().to_json()}}
    assert KeyState.from_json(json.loads(json.dumps(state.to_json()))) == state
    empty = KeyState(partition=0)
    assert empty.to_json() == {"p": 0, "src": {}, "w": {}}
    assert KeyState.from_json(empty.to_json()) == empty


def test_stored_source_positions_are_read_as_string_partitions_and_int_offsets() -> None:
    state = KeyState.from_json({"p": 1, "src": {0: "7", "2": 3}, "w": {}})
    assert state.sources == {"0": 7, "2": 3}
    assert state.partition == 1 and state.windows == {}


# --- observe ------------------------------------------------------------------------------------


def test_a_first_verdict_opens_one_window_per_rule_of_its_scope_and_counts_it(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    outcome = observe(state, _user("e1", offset=4, at_ms=T0 + 2 * MINUTE), rules, T0)
    assert outcome == ObserveOutcome(duplicate=False, counted_windows=2, late_windows=0) and not outcome.late
    assert state.sources == {"0": 4}
    assert state.windows == {
        f"repeat-unsafe@{T0}": WindowCounts(
            T0,
            T0 + 10 * MINUTE,
            total=1,
            matched=1,
            labels={"unsafe": 1},
            categories={"uncategorized": 1},
            evidence=["e1"],
            counterpart="c1",
        ),
        f"crime@{T0}": WindowCounts(
            T0, T0 + 60 * MINUTE, total=1, matched=0, labels={"unsafe": 1}, categories={"uncategorized": 1}
        ),
    }


def test_a_conversation_verdict_counts_into_both_hopping_windows_that_hold_it(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    outcome = observe(state, _conversation("r1", offset=0, at_ms=T0 + 2 * MINUTE, label="review", user="u5"), rules, T0)
    assert outcome == ObserveOutcome(duplicate=False, counted_windows=2, late_windows=0)
    expected = {
        "total": 1,
        "matched": 1,
        "labels": {"review": 1},
        "categories": {"uncategorized": 1},
        "evidence": ["r1"],
        "counterpart": "u5",
    }
    assert state.windows == {
        f"review-rate@{T0 - 5 * MINUTE}": WindowCounts(T0 - 5 * MINUTE, T0 + 5 * MINUTE, **expected),  # type: ignore[arg-type]
        f"review-rate@{T0}": WindowCounts(T0, T0 + 10 * MINUTE, **expected),  # type: ignore[arg-type]
    }


def test_an_observation_exactly_at_the_window_end_belongs_to_the_next_window(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    observe(state, _user("e1", offset=0, at_ms=T0 + 10 * MINUTE - 1), rules, T0)
    observe(state, _user("e2", offset=1, at_ms=T0 + 10 * MINUTE), rules, T0)
    assert state.windows[f"repeat-unsafe@{T0}"].evidence == ["e1"]
    assert state.windows[f"repeat-unsafe@{T0 + 10 * MINUTE}"].evidence == ["e2"]
    assert state.windows[f"crime@{T0}"].total == 2


def test_counts_accumulate_labels_categories_and_the_last_matching_counterpart(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    crime = {"illegal_activities": 0.9, "hate_abuse": 0.7}
    observe(state, _user("e1", offset=0, at_ms=T0, conversation="c1", categories=crime), rules, T0)
    observe(state, _user("e2", offset=1, at_ms=T0 + 1, conversation="c2", label="safe"), rules, T0)
    observe(state, _user("e3", offset=2, at_ms=T0 + 2, conversation="c3", categories={"hate_abuse": 0.9}), rules, T0)
    observe(
        state, _user("e4", offset=3, at_ms=T0 + 3, conversation="c4", categories={"illegal_activities": 0.6}), rules, T0
    )
    assert state.windows[f"crime@{T0}"] == WindowCounts(
        T0,
        T0 + 60 * MINUTE,
        total=4,
        matched=2,
        labels={"unsafe": 3, "safe": 1},
        categories={"illegal_activities": 2, "hate_abuse": 2, "uncategorized": 1},
        evidence=["e1"],  # a category rule keeps one piece of evidence
        counterpart="c4",
    )
    repeat = state.windows[f"repeat-unsafe@{T0}"]
    assert (repeat.total, repeat.matched, repeat.evidence, repeat.counterpart) == (4, 3, ["e1", "e3", "e4"], "c4")


def test_a_non_matching_verdict_counts_in_the_total_but_leaves_evidence_and_counterpart(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    observe(state, _user("e1", offset=0, at_ms=T0, conversation="c1"), rules, T0)
    observe(state, _user("e2", offset=1, at_ms=T0 + 1, conversation="c2", label="review"), rules, T0)
    repeat = state.windows[f"repeat-unsafe@{T0}"]
    assert (repeat.total, repeat.matched, repeat.labels, repeat.evidence, repeat.counterpart) == (
        2,
        1,
        {"unsafe": 1, "review": 1},
        ["e1"],
        "c1",
    )


def test_evidence_stops_at_the_rule_limit_while_matched_keeps_counting(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    for i in range(5):
        observe(state, _user(f"e{i}", offset=i, at_ms=T0 + i), rules, T0)
    repeat = state.windows[f"repeat-unsafe@{T0}"]
    assert repeat.matched == 5 and repeat.total == 5
    assert repeat.evidence == ["e0", "e1", "e2"], "threshold 3: three ids"


def test_a_redelivered_or_older_offset_of_the_same_partition_is_a_duplicate_and_changes_nothing(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    assert observe(state, _user("e1", offset=0, at_ms=T0), rules, T0) == ObserveOutcome(False, 2, 0)
    assert observe(state, _user("e5", offset=5, at_ms=T0 + 1), rules, T0) == ObserveOutcome(False, 2, 0)
    before = KeyState.from_json(state.to_json())
    for offset in (5, 4, 0):
        outcome = observe(state, _user("again", offset=offset, at_ms=T0 + 2), rules, T0)
        assert outcome == ObserveOutcome(duplicate=True, counted_windows=0, late_windows=0)
        assert not outcome.late
    assert state == before
    assert observe(state, _user("e6", offset=6, at_ms=T0 + 3), rules, T0) == ObserveOutcome(False, 2, 0)
    assert state.sources == {"0": 6}


def test_source_offsets_are_tracked_per_source_partition(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    observe(state, _user("a", offset=7, at_ms=T0, partition=0), rules, T0)
    outcome = observe(state, _user("b", offset=3, at_ms=T0 + 1, partition=1), rules, T0)
    assert outcome == ObserveOutcome(duplicate=False, counted_windows=2, late_windows=0)
    assert state.sources == {"0": 7, "1": 3}
    assert state.windows[f"repeat-unsafe@{T0}"].evidence == ["a", "b"]


def test_a_verdict_is_late_only_for_the_windows_closed_at_stream_time(rules: RuleSet) -> None:
    # [T0, T0+10m) closes at T0+11m; the 1-hour window is still open.
    just_open = KeyState(partition=0)
    outcome = observe(just_open, _user("e1", offset=0, at_ms=T0 + 2 * MINUTE), rules, T0 + 11 * MINUTE - 1)
    assert outcome == ObserveOutcome(duplicate=False, counted_windows=2, late_windows=0)
    closed = KeyState(partition=0)
    outcome = observe(closed, _user("e1", offset=0, at_ms=T0 + 2 * MINUTE), rules, T0 + 11 * MINUTE)
    assert outcome == ObserveOutcome(duplicate=False, counted_windows=1, late_windows=1) and not outcome.late
    assert list(closed.windows) == [f"crime@{T0}"]


def test_an_older_hopping_window_closed_does_not_stop_the_newer_one_counting(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    # [T0-5m, T0+5m) closed at T0+6m; [T0, T0+10m) open until T0+11m.
    outcome = observe(
        state, _conversation("r1", offset=0, at_ms=T0 + 2 * MINUTE, label="review"), rules, T0 + 6 * MINUTE
    )
    assert outcome == ObserveOutcome(duplicate=False, counted_windows=1, late_windows=1)
    assert list(state.windows) == [f"review-rate@{T0}"]


def test_a_verdict_late_for_every_window_is_late_and_still_remembered_as_seen(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    outcome = observe(
        state, _conversation("r1", offset=9, at_ms=T0 + 2 * MINUTE, label="review"), rules, T0 + 11 * MINUTE
    )
    assert outcome == ObserveOutcome(duplicate=False, counted_windows=0, late_windows=2)
    assert outcome.late
    assert state.windows == {} and state.sources == {"0": 9}


def test_the_outcome_is_late_only_when_nothing_was_counted_and_some_window_was_late() -> None:
    assert ObserveOutcome(duplicate=False, counted_windows=0, late_windows=1).late
    assert not ObserveOutcome(duplicate=False, counted_windows=1, late_windows=1).late
    assert not ObserveOutcome(duplicate=False, counted_windows=0, late_windows=0).late
    assert not ObserveOutcome(duplicate=True, counted_windows=0, late_windows=1).late


def test_a_verdict_ahead_of_stream_time_is_counted_into_its_own_windows(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    outcome = observe(state, _user("e1", offset=0, at_ms=T0 + 90 * MINUTE), rules, T0)
    assert outcome == ObserveOutcome(duplicate=False, counted_windows=2, late_windows=0)
    assert set(state.windows) == {f"repeat-unsafe@{T0 + 90 * MINUTE}", f"crime@{T0 + 60 * MINUTE}"}


# --- property: observe against a brute-force recount --------------------------------------------

_RULES = parse_rules(RULES_YAML)
_LABELS = st.sampled_from(["unsafe", "review", "safe"])
_STEPS = st.lists(
    st.tuples(st.integers(min_value=-15 * MINUTE, max_value=25 * MINUTE), _LABELS), min_size=1, max_size=25
)


@settings(max_examples=60, deadline=None)
@given(steps=_STEPS)
def test_observe_agrees_with_a_brute_force_recount_of_the_windows_each_verdict_was_on_time_for(
    steps: list[tuple[int, str]],
) -> None:
    rules = _RULES
    state = KeyState(partition=0)
    stream = T0 - 60 * MINUTE
    expected_total: dict[str, int] = defaultdict(int)
    expected_matched: dict[str, int] = defaultdict(int)
    for offset, (delta, label) in enumerate(steps):
        at = T0 + delta
        obs = _conversation(f"e{offset}", offset=offset, at_ms=at, label=label)
        counted = late = 0
        # review-rate: hopping 10m every 5m, grace 1m; a window [s, s+10m) holds at when s <= at < s+10m
        for start in range((at // (5 * MINUTE) - 2) * 5 * MINUTE, at + 1, 5 * MINUTE):
            if not start <= at < start + 10 * MINUTE:
                continue
            if max(stream, at) >= start + 10 * MINUTE + MINUTE:
                late += 1
                continue
            counted += 1
            expected_total[f"review-rate@{start}"] += 1
            expected_matched[f"review-rate@{start}"] += label == "review"
        assert observe(state, obs, rules, stream) == ObserveOutcome(False, counted, late)
        stream = max(stream, at)
    assert {k: w.total for k, w in state.windows.items()} == expected_total
    assert {k: w.matched for k, w in state.windows.items()} == expected_matched
