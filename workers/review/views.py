"""Templates: Jinja2 with autoescaping on, and the filters that render hostile chat text safely."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from guardstream.guard.categories import HarmCategory
from workers.review.auth import User
from workers.review.item_ids import to_segment
from workers.review.overview import category_title, label_category
from workers.review.security import services
from workers.review.text_safety import reveal, reveal_plain

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")

MESSAGES = {
    "labelled": "Label saved. Next item.",
    "empty": "The queue is empty for these filters.",
    "undone_unsent": "Undone. The label had not been sent to moderation.feedback and never will be.",
    "undone_sent": "Undone here. The label had already been sent to moderation.feedback; "
    "the label you give now supersedes it.",
    "nothing_to_undo": "Nothing to undo.",
    "already_labelled": "This item was labelled already; your label was not saved.",
    "stale_revision": "This item changed while you looked at it; reload and label again.",
    "leased_by_other": "Another reviewer holds this item.",
    "not_flagged": "This item is not in the review queue.",
    "skipped": "Skipped.",
    "user_created": "Account created.",
    "invalid_label": "Choose safe or unsafe, and a known category.",
}


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["reveal"] = reveal
    env.filters["reveal_plain"] = reveal_plain
    env.filters["category_title"] = category_title
    env.filters["as_json"] = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True)
    env.filters["segment"] = to_segment
    env.filters["top_category"] = lambda row: label_category({"model_categories": row.get("categories")})
    env.globals["categories"] = list(HarmCategory)
    return env


class Renderer:
    def __init__(self) -> None:
        self._env = build_environment()

    def page(
        self, request: Request, template: str, user: User | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        svc = services(request)
        zone = svc.zone

        def when(ms: int | None) -> str:
            if ms is None:
                return "—"
            return dt.datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M:%S")

        code = request.query_params.get("msg", "")
        html = self._env.get_template(template).render(
            request_path=request.url.path,
            user=user,
            csrf_token=user.csrf_token if user else "",
            message=context.pop("message", MESSAGES.get(code, "")),
            when=when,
            timezone=svc.settings.timezone,
            feedback_topic=svc.feedback_topic,
            **context,
        )
        return HTMLResponse(html, status_code=status)
