"""Hostile chat text in question, response, analysis and context never executes or misleads."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import PASSWORD, RunningApp, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PAYLOADS = [
    "<script>window.__pwned=1;alert('script')</script>",
    "<img src=x onerror=\"window.__pwned=2;alert('img')\">",
    "<svg onload=alert('svg')><animate onbegin=alert('anim') attributeName=x dur=1s>",
    "<a href=\"javascript:alert('link')\" id=evil-link>点我领奖</a>",
    '<iframe srcdoc="<script>parent.__pwned=3</script>"></iframe>',
    "</textarea><script>alert('textarea')</script>",
    '"><input autofocus onfocus=alert("attr")>',
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<style>body{display:none}</style>{{ 7*7 }}{% raw %}",
]
BIDI = "请下载 invoice\u202egpj.exe 文件"
LOOKALIKE = "登录 pаypal.com 领取退款"


def test_hostile_text_is_shown_as_text_and_nothing_runs(start_app: Callable[..., RunningApp], browser: Any) -> None:
    app = start_app()
    hostile = "\n".join(PAYLOADS)
    event = app.seed(
        question=f"问题 {hostile} {BIDI}",
        text=f"回答 {hostile} {LOOKALIKE}",
        analysis=f"分析 {hostile}",
        context=(f"上文 {hostile}",),
    )
    app.add_user("root", role="admin")
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    console_csp: list[str] = []
    page.on("console", lambda msg: console_csp.append(msg.text) if "Content Security Policy" in msg.text else None)

    # A login attempt with a hostile username lands in the trail, which must render it as text too.
    page.goto(f"{app.url}/login")
    page.fill("input[name=username]", PAYLOADS[1][:60])
    page.fill("input[name=password]", "wrong password!!")
    page.press("input[name=password]", "Enter")
    page.wait_for_load_state()
    log_in(page, app.url, "root")

    page.keyboard.press("r")
    page.wait_for_url(re.compile(r"/review/"))
    page.mouse.move(200, 300)
    for selector in ("#question", "#response", "#analysis", "#context"):
        page.hover(selector)
    page.goto(f"{app.url}/queue?status=all")
    page.goto(f"{app.url}/admin/trail")
    page.goto(f"{app.url}/review/{event}")
    page.wait_for_timeout(800)  # give any timer, animation or refresh a chance to fire

    assert dialogs == []
    assert page.evaluate("window.__pwned === undefined && document.querySelector('iframe') === null")
    assert page.url.endswith(f"/review/{event}")
    scripts = page.evaluate("Array.from(document.scripts).map(s => s.src)")
    assert scripts == [f"{app.url}/static/review.js"]
    assert (
        page.evaluate(
            "document.querySelectorAll('a[href^=\"javascript:\" i], [onerror], [onload], [onfocus], svg, img, input[autofocus]').length"
        )
        == 0
    )
    question = page.inner_text("#question")
    assert "<script>window.__pwned=1;alert('script')</script>" in question and "{{ 7*7 }}" in question
    assert "<img src=x onerror=" in page.inner_text("#response") and "<iframe srcdoc=" in page.inner_text("#analysis")
    assert "</textarea><script>" in page.inner_text("#context")

    # Bidi override shown as a marker (not applied); the look-alike word is marked and explained.
    assert "⟨U+202E⟩" in question and "\u202e" not in question
    assert page.inner_text("mark.lookalike") == "pаypal"
    warnings = page.inner_text("#text-warnings")
    assert "RIGHT-TO-LEFT OVERRIDE" in warnings and "Cyrillic+Latin" in warnings

    page.goto(f"{app.url}/admin/trail")
    assert "<img src=x onerror=" in page.inner_text("#trail")
    assert dialogs == [] and console_csp == []
    assert PASSWORD not in page.content()
    page.close()
