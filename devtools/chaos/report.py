"""A scenario's figures, its pass/fail criteria, the CHAOS line and the JSON report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devtools.chaos.audit_check import AuditCounts
from devtools.chaos.options import RSS_LIMIT_MB
from devtools.chaos.stream import Position, Produced
from devtools.chaos.tally import OutputTally


@dataclass
class ScenarioResult:
    scenario: str
    sent: int = 0
    verdicts: int = 0
    dlq: int = 0
    lost: int = 0
    dup_topic: int = 0
    dup_audit: int = 0
    peak_rss_mb: float = 0.0
    fallback: int | None = None
    """Fallback verdicts (the model was away), when the scenario gives some; each needs one revision."""
    revisions: int = 0
    details: dict[str, object] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def line(self) -> str:
        return (
            f"CHAOS scenario={self.scenario} sent={self.sent} verdicts={self.verdicts} dlq={self.dlq} "
            f"lost={self.lost} dup_topic={self.dup_topic} dup_audit={self.dup_audit} peak_rss_mb={self.peak_rss_mb:.1f}"
            + (f" fallback={self.fallback} revisions={self.revisions}" if self.fallback is not None else "")
        )

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "passed": self.passed, "line": self.line()}


def judge(
    result: ScenarioResult,
    produced: dict[Position, Produced],
    tally: OutputTally,
    audit: AuditCounts,
    expect_poison: bool,
) -> None:
    """Fill in the figures from what was produced, read and stored; list every broken criterion."""
    valid = [position for position, record in produced.items() if record.valid]
    poison = {position: record for position, record in produced.items() if not record.valid}
    events = _events(produced, valid)
    result.sent = len(produced)
    result.verdicts = sum(tally.verdicts[position] for position in produced)
    result.dlq = sum(tally.dead_letters[position] for position in produced)
    result.lost = sum(1 for copies in events.values() if not any(tally.verdicts[p] for p in copies))
    result.dup_topic = sum(1 for copies in events.values() if sum(tally.verdicts[p] for p in copies) > 1)
    result.dup_topic += sum(1 for position in poison if tally.verdicts[position] > 1)

    flagged_dups = sum(1 for count in tally.flagged.values() if count > 1)
    result.dup_audit = audit.duplicate_event_ids + audit.duplicate_positions + audit.resent_repeated + flagged_dups
    topic_ids = set(tally.verdict_ids.values())
    flagged_topic_ids = set(tally.flagged)
    wrong_poison = []
    for position, record in sorted(poison.items()):
        letter = tally.letters.get(position)
        if letter is None:
            wrong_poison.append(f"{record.case}@{position}: no dead letter")
        elif letter.kind != record.expected_kind or not letter.reason:
            wrong_poison.append(f"{record.case}@{position}: kind={letter.kind} expected {record.expected_kind}")
        elif tally.verdicts[position]:
            wrong_poison.append(f"{record.case}@{position}: also got a verdict")
    details: dict[str, object] = {
        "valid": len(valid),
        "poison": len(poison),
        "poison_kinds": sorted({record.expected_kind or "" for record in poison.values()}),
        "poison_cases": len({record.case for record in poison.values()}),
        "poison_wrong": wrong_poison,
        "valid_dead_lettered": sum(1 for position in valid if tally.dead_letters[position]),
        "wrong_event_ids": sum(
            1
            for position in valid
            if tally.verdicts[position] and tally.verdict_ids[position] != produced[position].event_id
        ),
        "dup_dlq": sum(1 for position in produced if tally.dead_letters[position] > 1),
        "dup_flagged": flagged_dups,
        "audit_verdict_rows": audit.verdict_rows,
        "audit_dead_letter_rows": audit.dead_letter_rows,
        "audit_duplicate_event_ids": audit.duplicate_event_ids,
        "audit_duplicate_dead_letters": audit.duplicate_positions,
        "audit_missing": len(topic_ids - audit.event_ids),
        "audit_without_verdict": len(audit.event_ids - topic_ids),
        "flagged_records": sum(tally.flagged.values()),
        "flagged_missing": len(audit.flagged_ids - flagged_topic_ids),
        "flagged_extra": len(flagged_topic_ids - audit.flagged_ids),
        "foreign_records": tally.foreign,
        **_resent_details(produced, valid, tally, audit),
    }
    result.details.update(details)

    failures = result.failures
    for name in ("lost", "dup_topic", "dup_audit"):
        if getattr(result, name):
            failures.append(f"{name}={getattr(result, name)}")
    for name in (
        "valid_dead_lettered", "wrong_event_ids", "dup_dlq", "audit_missing", "audit_without_verdict",
        "flagged_missing", "flagged_extra", "foreign_records", "resent_unrecorded", "resent_wrong",
    ):  # fmt: skip
        if details[name]:
            failures.append(f"{name}={details[name]}")
    if audit.dead_letter_rows != len(tally.dead_letters):
        failures.append(
            f"dead-letter rows {audit.dead_letter_rows} != dead letters on the topic {len(tally.dead_letters)}"
        )
    if wrong_poison:
        failures.append(f"{len(wrong_poison)} poison records not accounted for: {wrong_poison[:5]}")
    if expect_poison and len({record.case for record in poison.values()}) < 20:
        failures.append("fewer than 20 kinds of bad input were sent")
    _judge_revisions(result, tally, audit)
    if result.peak_rss_mb >= RSS_LIMIT_MB:
        failures.append(f"peak RSS {result.peak_rss_mb:.0f} MB >= {RSS_LIMIT_MB:.0f} MB")


def _judge_revisions(result: ScenarioResult, tally: OutputTally, audit: AuditCounts) -> None:
    """Every fallback verdict gets exactly one revision, on the topic and in the audit store; no other event gets one."""
    if not tally.fallback_ids and not tally.revisions and not audit.revised_ids:
        return
    fallen = tally.fallback_ids
    result.fallback, result.revisions = len(fallen), sum(tally.revisions.values())
    details = {
        "revisions_missing": sorted(fallen - set(tally.revisions))[:5],
        "revisions_repeated": sorted(e for e, count in tally.revisions.items() if count > 1)[:5],
        "revisions_unasked": sorted(set(tally.revisions) - fallen)[:5],
        "flagged_revisions_repeated": sorted(e for e, count in tally.flagged_revisions.items() if count > 1)[:5],
        "audit_fallback_mismatch": sorted(fallen ^ audit.fallback_ids)[:5],
        "audit_revisions_mismatch": sorted(set(tally.revisions) ^ audit.revised_ids)[:5],
    }
    result.details.update(details)
    result.failures.extend(f"{name}: {events}" for name, events in details.items() if events)


def _events(produced: dict[Position, Produced], valid: list[Position]) -> dict[object, list[Position]]:
    """The valid records grouped by event: an event sent again has several positions, one verdict."""
    events: dict[object, list[Position]] = {}
    for position in valid:
        key = produced[position].event_id or position
        events.setdefault(key, []).append(position)
    return events


def _resent_details(
    produced: dict[Position, Produced], valid: list[Position], tally: OutputTally, audit: AuditCounts
) -> dict[str, object]:
    """Every valid record without a verdict must be a recorded duplicate of the one with it, and no
    record with a verdict may be recorded as a duplicate."""
    unrecorded, wrong = 0, 0
    for position in valid:
        row = audit.resent.get(position)
        if tally.verdicts[position]:
            wrong += row is not None
            continue
        if row is None:
            unrecorded += 1
            continue
        event_id, first = row
        wrong += event_id != produced[position].event_id or tally.verdict_ids.get(first) != event_id
    copies = len(valid) - len(_events(produced, valid))
    return {
        "resent": copies,
        "resent_recorded": len(audit.resent),
        "resent_unrecorded": unrecorded if copies else 0,
        "resent_wrong": wrong + len(audit.resent.keys() - set(valid)),
    }


def write_report(path: Path, results: list[ScenarioResult], settings: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "passed": all(result.passed for result in results),
        "options": settings,
        "scenarios": [result.to_dict() for result in results],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
