"""How a chaos scenario is judged: every input matched to its outputs by source position."""

from __future__ import annotations

import dataclasses
import itertools

from devtools.chaos.audit_check import AuditCounts
from devtools.chaos.report import ScenarioResult, judge
from devtools.chaos.stream import Produced, mixed, poison_records, valid_records
from devtools.chaos.tally import OutputTally
from guardstream.records import DeadLetter


def letter(offset: int, kind: str) -> DeadLetter:
    return DeadLetter(
        source_topic="in", source_partition=0, source_offset=offset, key=None, payload=b"", payload_size=0,
        payload_truncated=False, kind=kind, reason=f"because {kind}", event_id=None, failed_at_ms=0, worker_id="w",
    )  # fmt: skip


def audit(ids: set[str], flagged: set[str] = frozenset(), dup_ids: int = 0, letters: int = 0) -> AuditCounts:  # type: ignore[assignment]
    return AuditCounts(len(ids) + dup_ids, frozenset(ids), dup_ids, frozenset(flagged), letters, 0)


def produced() -> dict[tuple[int, int], Produced]:
    return {
        (0, 0): Produced("valid", None, "e0"),
        (0, 1): Produced("valid", None, "e1"),
        (0, 2): Produced("empty_text", "empty_text", None),
    }


def tally(verdict_counts: dict[int, int], dead: dict[int, str]) -> OutputTally:
    out = OutputTally()
    for offset, count in verdict_counts.items():
        out.verdicts[(0, offset)] = count
        out.verdict_ids[(0, offset)] = f"e{offset}"
    for offset, kind in dead.items():
        out.dead_letters[(0, offset)] += 1
        out.letters[(0, offset)] = letter(offset, kind)
    return out


def test_a_clean_run_passes_with_its_figures() -> None:
    result = ScenarioResult("x")
    judge(result, produced(), tally({0: 1, 1: 1}, {2: "empty_text"}), audit({"e0", "e1"}, letters=1), False)
    assert result.passed, result.failures
    assert result.line() == ("CHAOS scenario=x sent=3 verdicts=2 dlq=1 lost=0 dup_topic=0 dup_audit=0 peak_rss_mb=0.0")


def test_lost_duplicated_and_misfiled_records_each_fail_the_scenario() -> None:
    result = ScenarioResult("x")
    judge(result, produced(), tally({0: 2}, {2: "malformed_avro"}), audit({"e0"}, dup_ids=1, letters=1), False)
    assert (result.lost, result.dup_topic, result.dup_audit) == (1, 1, 1)
    assert any("poison" in failure for failure in result.failures)


def test_a_verdict_missing_from_the_audit_store_fails_even_without_duplicates() -> None:
    result = ScenarioResult("x")
    judge(result, produced(), tally({0: 1, 1: 1}, {2: "empty_text"}), audit({"e0"}, letters=1), False)
    assert result.failures == ["audit_missing=1"]


def test_the_poison_stream_has_more_than_twenty_kinds_including_headers_and_null_values() -> None:
    records = poison_records(3)
    cases = {record.case for record in records}
    assert len(cases) >= 20 and {"huge_headers", "null_value", "payload_too_large", "invalid_utf8_json"} <= cases
    valid = valid_records(50, 1, "run", 0.5)
    stream = list(mixed(valid, records, 50, 2))
    assert len(stream) == 50 + len(records)
    assert len({record.event_id for record in stream if record.case == "valid"}) == 50
    assert all(record.event_id.startswith("run-") for record in itertools.islice(valid_records(3, 1, "run", 0), 3))  # type: ignore[union-attr]


def resent_run() -> dict[tuple[int, int], Produced]:
    """e0 at (0, 0) sent again at (3, 7); e1 at (0, 1) once."""
    return {
        (0, 0): Produced("valid", None, "e0"),
        (0, 1): Produced("valid", None, "e1"),
        (3, 7): Produced("resent:partition", None, "e0"),
    }


def test_a_copy_recorded_as_a_duplicate_is_neither_lost_nor_duplicated() -> None:
    result = ScenarioResult("duplicates")
    counts = dataclasses.replace(audit({"e0", "e1"}), resent={(3, 7): ("e0", (0, 0))})
    judge(result, resent_run(), tally({0: 1, 1: 1}, {}), counts, False)
    assert result.passed, result.failures
    assert (result.sent, result.verdicts, result.lost, result.dup_topic, result.dup_audit) == (3, 2, 0, 0, 0)
    assert result.details["resent"] == result.details["resent_recorded"] == 1


def test_the_copy_may_be_the_one_judged_when_its_partition_came_first() -> None:
    result = ScenarioResult("duplicates")
    out = tally({1: 1}, {})
    out.verdicts[(3, 7)], out.verdict_ids[(3, 7)] = 1, "e0"
    judge(result, resent_run(), out, dataclasses.replace(audit({"e0", "e1"}), resent={(0, 0): ("e0", (3, 7))}), False)
    assert result.passed, result.failures


def test_a_second_verdict_for_a_copy_or_a_copy_never_recorded_fails() -> None:
    twice = ScenarioResult("duplicates")
    out = tally({0: 1, 1: 1}, {})
    out.verdicts[(3, 7)], out.verdict_ids[(3, 7)] = 1, "e0"
    judge(twice, resent_run(), out, audit({"e0", "e1"}), False)
    assert twice.dup_topic == 1 and twice.lost == 0

    unrecorded = ScenarioResult("duplicates")
    judge(unrecorded, resent_run(), tally({0: 1, 1: 1}, {}), audit({"e0", "e1"}), False)
    assert unrecorded.lost == 0 and unrecorded.failures == ["resent_unrecorded=1"]

    misrecorded = ScenarioResult("duplicates")
    counts = dataclasses.replace(audit({"e0", "e1"}), resent={(3, 7): ("e0", (0, 0)), (0, 1): ("e1", (0, 0))})
    judge(misrecorded, resent_run(), tally({0: 1, 1: 1}, {}), counts, False)
    assert misrecorded.failures == ["resent_wrong=1"]


def test_a_copy_neither_judged_nor_recorded_with_its_event_lost_counts_the_event_lost_once() -> None:
    result = ScenarioResult("duplicates")
    judge(result, resent_run(), tally({1: 1}, {}), audit({"e1"}), False)
    assert result.lost == 1 and "lost=1" in result.failures
