"""Blocklists before the model: each event's hits under the acting policy and the shadow one.

Run when a batch is sealed, so that an event a blocklist decides under every policy that judges
it is never sent to Triton; the policy for each event is chosen by its tenant and channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


class Screener:
    def __init__(self, policy: Policy, shadow: Policy | None, blocklists: LiveBlocklists | None) -> None:
        self._policy = policy
        self._shadow = shadow
        self._blocklists = blocklists

    def screen(
        self, texts: Sequence[tuple[str, dict[str, str]] | None], revising: Sequence[bool] = ()
    ) -> dict[int, Screens]:
        """Screens by position for each (text, metadata); None marks a record with no event.
        ``revising``: by position, whether the record was read from the rejudge topic."""
        if self._blocklists is not None:
            self._blocklists.refresh()
        present = [(index, item) for index, item in enumerate(texts) if item is not None]
        found = self._blocklists.find([text for _, (text, _) in present]) if self._blocklists else [[]] * len(present)
        screens = {}
        for (index, (_, metadata)), hits in zip(present, found, strict=True):
            shadow = screen(hits, self._shadow.select(metadata)) if self._shadow is not None else None
            again = index < len(revising) and revising[index]
            screens[index] = Screens(screen(hits, self._policy.select(metadata)), shadow, again)
        return screens
