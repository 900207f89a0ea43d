"""Figures of the overview page, and their charts as plain geometry for server-side SVG."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from guardstream.guard.categories import HarmCategory

HOUR_MS = 3_600_000
UNCATEGORISED = "uncategorised"


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    rects: tuple[Rect, ...]
    ticks: tuple[Tick, ...]


@dataclass(frozen=True, slots=True)
class Agreement:
    category: str
    agree: int
    disagree: int
    model_unsure: int

    @property
    def decided(self) -> int:
        return self.agree + self.disagree

    @property
    def rate(self) -> float | None:
        return self.agree / self.decided if self.decided else None


def hourly_counts(labelled_at_ms: Iterable[int], now_ms: int, hours: int = 24) -> list[tuple[int, int]]:
    """(hour start ms, labels in that hour) for the last ``hours`` hours, oldest first."""
    current = now_ms - now_ms % HOUR_MS
    starts = [current - HOUR_MS * back for back in range(hours - 1, -1, -1)]
    counts = dict.fromkeys(starts, 0)
    for at in labelled_at_ms:
        start = at - at % HOUR_MS
        if start in counts:
            counts[start] += 1
    return [(start, counts[start]) for start in starts]


def label_category(label: Mapping[str, Any]) -> str:
    """The reviewer's category, else the model's top-scored one, else uncategorised."""
    if label.get("category"):
        return str(label["category"])
    scored = [c for c in label.get("model_categories") or () if isinstance(c, Mapping) and c.get("category")]
    if scored:
        return str(max(scored, key=lambda c: float(c.get("score") or 0.0))["category"])
    return UNCATEGORISED


def agreement_by_category(labels: Iterable[Mapping[str, Any]]) -> list[Agreement]:
    """Model vs reviewers per category: both unsafe, reviewer overruled, or the model unsure."""
    table: dict[str, list[int]] = {}
    for label in labels:
        row = table.setdefault(label_category(label), [0, 0, 0])
        if label.get("model_label") == "review":
            row[2] += 1
        elif label.get("model_label") == label.get("label"):
            row[0] += 1
        else:
            row[1] += 1
    order = [c.value for c in HarmCategory] + [UNCATEGORISED]
    known = [key for key in order if key in table] + sorted(key for key in table if key not in order)
    return [Agreement(key, *table[key]) for key in known]


def category_title(slug: str) -> str:
    if slug == UNCATEGORISED:
        return "未分类 uncategorised"
    try:
        category = HarmCategory(slug)
    except ValueError:
        return slug
    return f"{category.chinese_name} {category.english_name}"


def hourly_chart(counts: list[tuple[int, int]], zone: ZoneInfo, width: int = 720, height: int = 200) -> Chart:
    left, bottom, top = 36, 24, 12
    plot_h = height - bottom - top
    peak = max([count for _, count in counts] + [1])
    step = (width - left) / max(len(counts), 1)
    rects, ticks = [], [Tick(left - 6, top + 8, str(peak), "end"), Tick(left - 6, height - bottom, "0", "end")]
    for index, (start, count) in enumerate(counts):
        bar_h = plot_h * count / peak
        x = left + index * step
        hour = dt.datetime.fromtimestamp(start / 1000, zone).strftime("%H:00")
        rects.append(Rect(x + 2, top + plot_h - bar_h, max(step - 4, 1), bar_h, "bar", f"{hour}: {count}"))
        if index % 3 == 0:
            ticks.append(Tick(x + step / 2, height - 6, hour))
    return Chart(width, height, tuple(rects), tuple(ticks))


def agreement_chart(rows: list[Agreement], width: int = 720, row_h: int = 30) -> Chart:
    left, right = 230, 60
    height = max(len(rows), 1) * row_h + 8
    peak = max([row.decided + row.model_unsure for row in rows] + [1])
    scale = (width - left - right) / peak
    rects, ticks = [], []
    for index, row in enumerate(rows):
        y = 4 + index * row_h
        x = float(left)
        for kind, value in (("agree", row.agree), ("disagree", row.disagree), ("unsure", row.model_unsure)):
            if value:
                rects.append(Rect(x, y + 4, value * scale, row_h - 10, kind, f"{kind}: {value}"))
                x += value * scale
        ticks.append(Tick(left - 8, y + row_h / 2 + 4, category_title(row.category), "end"))
        rate = "—" if row.rate is None else f"{row.rate:.0%}"
        ticks.append(Tick(x + 6, y + row_h / 2 + 4, rate, "start"))
    return Chart(width, height, tuple(rects), tuple(ticks))
