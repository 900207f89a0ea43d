"""What the routes share: the stores, settings, signer, limiters, explainer and relay."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from workers.review.accounts import AccountStore
from workers.review.analyses import AnalysisStore
from workers.review.auth import CookieSigner
from workers.review.explain import Explainer
from workers.review.queue import ReviewQueue
from workers.review.ratelimit import LoginRateLimiter, SlidingWindow
from workers.review.relay import RelayRunner
from workers.review.settings import ReviewSettings
from workers.review.trail import ReviewTrail


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class ReviewServices:
    accounts: AccountStore
    queue: ReviewQueue
    trail: ReviewTrail
    analyses: AnalysisStore
    settings: ReviewSettings
    signer: CookieSigner
    limiter: LoginRateLimiter
    explainer: Explainer
    feedback_topic: str
    relay: RelayRunner | None = None
    clock_ms: Callable[[], int] = field(default=wall_clock_ms)
    explain_limiter: SlidingWindow = field(init=False)
    """Explanation requests per reviewer."""

    def __post_init__(self) -> None:
        self.explain_limiter = SlidingWindow(self.settings.explain_max_requests, self.settings.explain_window_s)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    @property
    def lease_ms(self) -> int:
        return self.settings.lease_s * 1000
