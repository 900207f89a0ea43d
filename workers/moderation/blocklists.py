"""The worker's blocklists, reloaded from the audit store without a restart.

Every ``refresh_s`` the worker asks the store for the lists' versions (one small query); when a
list was added, changed or dropped it reads them all and builds one new matcher (one automaton
for every term). While the store is away the lists it last read stay in force.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from guardstream.blocklist.model import Blocklist, Hit
from guardstream.errors import DependencyUnavailableError

log = logging.getLogger(__name__)
_WARM_UP = "預熱 warm up 预热"


class BlocklistSource(Protocol):
    def versions(self) -> dict[str, int]: ...

    def lists(self) -> list[Blocklist]: ...


class Matcher(Protocol):
    def find(self, text: str) -> list[Hit]: ...


class LiveBlocklists:
    def __init__(
        self,
        source: BlocklistSource,
        build: Callable[[Sequence[Blocklist]], Matcher],
        refresh_s: float,
        clock: Callable[[], float],
    ) -> None:
        """``build`` makes one matcher of all the lists (guardstream.blocklist.matcher.BlocklistMatcher.build)."""
        self._source = source
        self._build = build
        self._refresh_s = refresh_s
        self._clock = clock
        self._versions: dict[str, int] | None = None
        self._matcher: Matcher | None = None
        self._checked_at = float("-inf")

    @property
    def versions(self) -> dict[str, int]:
        """The versions of the lists in force (empty before the first load)."""
        return dict(self._versions or {})

    def refresh(self) -> None:
        """Reload the lists if ``refresh_s`` has passed and one of them changed."""
        now = self._clock()
        if now - self._checked_at < self._refresh_s:
            return
        self._checked_at = now
        try:
            versions = self._source.versions()
            if versions == self._versions:
                return
            lists = self._source.lists()
        except DependencyUnavailableError as exc:
            log.warning("blocklists not reloaded (%s); the lists read before stay in force", exc)
            return
        matcher = self._build(lists) if any(blocklist.terms for blocklist in lists) else None
        if matcher is not None:
            matcher.find(_WARM_UP)  # loads the pinyin and word dictionaries now, not on the first event
        self._matcher = matcher
        self._versions = {blocklist.name: blocklist.version for blocklist in lists}
        log.info("blocklists in force: %s", ", ".join(f"{n}@{v}" for n, v in sorted(self._versions.items())) or "none")

    def find(self, texts: Sequence[str]) -> list[list[Hit]]:
        """The hits in each text (none while no list has terms)."""
        matcher = self._matcher
        return [matcher.find(text) if matcher is not None else [] for text in texts]
