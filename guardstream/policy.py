"""The moderation policy: thresholds that turn a model score into a label.

Kept apart from the model so that changing the policy needs no model change; the policy version
is stamped on every verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from guardstream.records import VerdictLabel
from guardstream.settings import PolicySettings


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    unsafe_threshold: float
    review_threshold: float

    @classmethod
    def from_settings(cls, settings: PolicySettings) -> Policy:
        return cls(settings.version, settings.unsafe_threshold, settings.review_threshold)

    def label(self, p_unsafe: float) -> VerdictLabel:
        """``unsafe`` at or above the unsafe threshold, ``review`` in the band below it."""
        if p_unsafe >= self.unsafe_threshold:
            return VerdictLabel.UNSAFE
        if p_unsafe >= self.review_threshold:
            return VerdictLabel.REVIEW
        return VerdictLabel.SAFE

    @staticmethod
    def needs_person(label: VerdictLabel) -> bool:
        """Unsafe and uncertain verdicts go to ``moderation.flagged`` for human review."""
        return label is not VerdictLabel.SAFE
