"""Queue filters from and to query strings: only known fields, validated, re-encoded by us.

Redirects carry filters only through :func:`to_query`, so no user text reaches a Location header.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from guardstream.guard.categories import HarmCategory
from guardstream.policy import FLAGGED_LABELS
from workers.review.queue import QueueFilters

STATUSES = ("pending", "labelled", "all")
ORDERS = ("oldest", "risk")
_TIME_FORMAT = "%Y-%m-%dT%H:%M"


def parse_filters(params: Mapping[str, str], zone: ZoneInfo) -> QueueFilters:
    """Filters from query parameters; anything unknown or malformed is ignored."""
    label = params.get("label") or None
    category = params.get("category") or None
    version = (params.get("version") or "").strip()[:64] or None
    return QueueFilters(
        model_label=label if label in FLAGGED_LABELS else None,
        category=category if category in {c.value for c in HarmCategory} else None,
        model_version=version,
        since_ms=parse_local_time(params.get("since"), zone),
        until_ms=parse_local_time(params.get("until"), zone),
        status=status if (status := params.get("status") or "") in STATUSES else "pending",
        order=order if (order := params.get("order") or "") in ORDERS else "oldest",
    )


def to_query(filters: QueueFilters, zone: ZoneInfo) -> str:
    """The canonical query string of ``filters`` (empty fields left out)."""
    pairs = {
        "label": filters.model_label or "",
        "category": filters.category or "",
        "version": filters.model_version or "",
        "since": format_local_time(filters.since_ms, zone),
        "until": format_local_time(filters.until_ms, zone),
        "status": "" if filters.status == "pending" else filters.status,
        "order": "" if filters.order == "oldest" else filters.order,
    }
    return urlencode({key: value for key, value in pairs.items() if value})


def parse_local_time(value: str | None, zone: ZoneInfo) -> int | None:
    if not value:
        return None
    try:
        moment = dt.datetime.strptime(value.strip()[:16], _TIME_FORMAT).replace(tzinfo=zone)
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


def format_local_time(ms: int | None, zone: ZoneInfo) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, zone).strftime(_TIME_FORMAT)
