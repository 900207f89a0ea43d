"""Blocklists before the model: each event's hits under the acting policy and the shadow one.

Run when a batch is sealed, so that an event a blocklist decides under every policy that judges
it is never sent to Triton; the policy for each event is chosen by its tenant and channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from guardstream.blocklist.model import Hit
from guardstream.blocklist.screening import Screening, screen
from guardstream.policy import Policy
from workers.moderation.blocklists import LiveBlocklists


@dataclass(frozen=True, slots=True)
class Screens:
    """An event's screening under the acting policy and, when one observes, the shadow policy."""

    acting: Screening
    shadow: Screening | None = None
    revising: bool = False
    """The event was read from the rejudge topic: it had a fallback verdict, and gets a revision."""

    @property
    def needs_model(self) -> bool:
        return self.acting.needs_model or (self.shadow is not None and self.shadow.needs_model)


def screens_for(
    hits: Sequence[Hit], metadata: Mapping[str, str], policy: Policy, shadow: Policy | None, revising: bool = False
) -> Screens:
    """The screens of one event with these hits, under the policies its metadata chooses."""
    observed = screen(hits, shadow.select(metadata)) if shadow is not None else None
    return Screens(screen(hits, policy.select(metadata)), observed, revising)


class Screener:
    def __init__(self, policy: Policy, shadow: Policy | None, blocklists: LiveBlocklists) -> None:
        self._policy = policy
        self._shadow = shadow
        self._blocklists = blocklists

    def screen(
        self, texts: Sequence[tuple[str, Mapping[str, str]] | None], revising: Sequence[bool] = ()
    ) -> dict[int, Screens]:
        """Screens by position for each (text, metadata); None marks a record with no event.
        ``revising``: by position, whether the record was read from the rejudge topic."""
        self._blocklists.refresh()
        present = [(index, item) for index, item in enumerate(texts) if item is not None]
        found = self._blocklists.find([text for _, (text, _) in present])
        return {
            index: screens_for(hits, metadata, self._policy, self._shadow, index < len(revising) and revising[index])
            for (index, (_, metadata)), hits in zip(present, found, strict=True)
        }
