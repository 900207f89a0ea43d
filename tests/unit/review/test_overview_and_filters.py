"""Overview figures and charts, queue filter parsing, the login rate limiter."""

from __future__ import annotations

from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from workers.review.filters import parse_filters, to_query
from workers.review.overview import HOUR_MS, agreement_by_category, agreement_chart, hourly_chart, hourly_counts
from workers.review.ratelimit import LoginRateLimiter

UTC = ZoneInfo("UTC")


def test_agreement_by_category_uses_the_reviewers_category_then_the_models() -> None:
    labels = [
        {"label": "unsafe", "model_label": "unsafe", "category": "hate_abuse", "model_categories": []},
        {
            "label": "safe",
            "model_label": "unsafe",
            "category": None,
            "model_categories": [{"category": "hate_abuse", "score": 0.9}],
        },
        {"label": "unsafe", "model_label": "review", "category": None, "model_categories": []},
    ]
    rows = {row.category: row for row in agreement_by_category(labels)}
    assert (rows["hate_abuse"].agree, rows["hate_abuse"].disagree, rows["hate_abuse"].rate) == (1, 1, 0.5)
    assert rows["uncategorised"].model_unsure == 1 and rows["uncategorised"].rate is None
    chart = agreement_chart(list(rows.values()))
    assert {rect.kind for rect in chart.rects} == {"agree", "disagree", "unsure"}


def test_hourly_counts_cover_the_last_day() -> None:
    now = 100 * HOUR_MS + 5
    counts = hourly_counts([now, now - HOUR_MS, now - 30 * HOUR_MS], now)
    assert len(counts) == 24 and counts[-1] == (100 * HOUR_MS, 1) and sum(c for _, c in counts) == 2
    assert len(hourly_chart(counts, UTC).rects) == 24


def test_filters_keep_only_known_values_and_round_trip() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    params = {
        "label": "review",
        "category": "hate_abuse",
        "since": "2026-01-02T08:00",
        "status": "all",
        "order": "risk",
        "version": "3",
        "evil": "<script>",
    }
    filters = parse_filters(params, zone)
    assert filters.model_label == "review" and filters.order == "risk" and filters.since_ms == 1767312000000
    assert parse_filters(dict(parse_qsl(to_query(filters, zone))), zone) == filters
    junk = parse_filters({"label": "safe", "category": "x'--", "status": "drop", "since": "yesterday"}, zone)
    assert (junk.model_label, junk.category, junk.status, junk.since_ms) == (None, None, "pending", None)


def test_rate_limiter_blocks_after_the_limit_and_forgets_after_the_window() -> None:
    now = [0.0]
    limiter = LoginRateLimiter(
        max_failures=2, max_failures_per_ip=3, max_failures_per_account=5, window_s=60, clock=lambda: now[0]
    )
    limiter.failed("1.1.1.1", "Alice")
    assert limiter.retry_after("1.1.1.1", "alice") == 0
    limiter.failed("1.1.1.1", "alice")
    assert limiter.retry_after("1.1.1.1", "ALICE") == 60
    assert limiter.retry_after("2.2.2.2", "alice") == 0
    limiter.failed("1.1.1.1", "bob")
    assert limiter.retry_after("1.1.1.1", "carol") == 60  # the IP as a whole is over its limit
    now[0] = 61
    assert limiter.retry_after("1.1.1.1", "alice") == 0


def test_rate_limiter_holds_an_account_sprayed_from_many_addresses() -> None:
    now = [0.0]
    limiter = LoginRateLimiter(
        max_failures=2, max_failures_per_ip=3, max_failures_per_account=3, window_s=60, clock=lambda: now[0]
    )
    for ip in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
        limiter.failed(ip, "Alice")
    assert limiter.retry_after("4.4.4.4", "alice") == 60
    assert limiter.retry_after("4.4.4.4", "bob") == 0
    limiter.succeeded("1.1.1.1", "alice")  # a success elsewhere does not lift the account's count
    assert limiter.retry_after("4.4.4.4", "alice") == 60
    now[0] = 61
    assert limiter.retry_after("4.4.4.4", "alice") == 0
