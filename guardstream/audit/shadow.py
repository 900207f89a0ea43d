"""Observe-only decisions: what a shadow policy would have decided, kept beside the acting verdict.

A shadow policy judges the same events with the same model scores as the acting one; its
decisions go to the audit store only (``shadow_decisions``), never to a verdict topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardstream.records import BlocklistHit, Decider, VerdictLabel


@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowDecision:
    event_id: str
    policy_id: str
    policy_version: str
    label: VerdictLabel
    p_unsafe: float
    decided_by: Decider
    blocklist_hits: tuple[BlocklistHit, ...]
    acting_policy_id: str
    acting_label: VerdictLabel
    decided_at_ms: int

    @property
    def disagrees(self) -> bool:
        return self.label is not self.acting_label


def shadow_row(decision: ShadowDecision) -> dict[str, Any]:
    return {
        "event_id": decision.event_id,
        "policy_id": decision.policy_id,
        "policy_version": decision.policy_version,
        "label": decision.label.value,
        "p_unsafe": decision.p_unsafe,
        "decided_by": decision.decided_by.value,
        "blocklist_hits": [hit.to_avro() for hit in decision.blocklist_hits],
        "acting_policy_id": decision.acting_policy_id,
        "acting_label": decision.acting_label.value,
        "decided_at_ms": decision.decided_at_ms,
    }
