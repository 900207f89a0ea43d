"""A very long item renders its first characters with a way to see all of it (plain text)."""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path

from guardstream.audit.engine import build_engine
from guardstream.audit.store import AuditStore
from tests.support.audit_records import event_and_verdict
from tests.unit.review.app_client import log_in, make_client

CAP = 5_000
UNIT = "很长的回答 with pаypal words\u202e "  # a look-alike word and a bidi override in every unit


def test_a_megabyte_item_shows_its_first_characters_and_links_to_all_of_it(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    client, _ = make_client(engine, display_max_chars=CAP)
    event, verdict = event_and_verdict(7)
    text = (UNIT * (1_000_000 // len(UNIT) + 1))[:1_000_000]
    context = ("上文" * 3_000, "第二轮" * 3_000)
    event = dataclasses.replace(event, event_id="long-1", text=text, question="短问题", context=context)
    AuditStore(engine).write([(event, dataclasses.replace(verdict, event_id="long-1"))], [])
    log_in(client)

    page = client.get("/review/long-1")
    assert page.status_code == 200 and len(page.text) < 200_000
    assert 'href="/review/long-1/full/text"' in page.text and 'href="/review/long-1/full/context"' in page.text
    assert "/full/question" not in page.text  # short fields are shown whole
    assert "1,000,000" in page.text and "RIGHT-TO-LEFT OVERRIDE" in page.text  # the warnings cover the whole text

    whole = client.get("/review/long-1/full/text")
    assert whole.status_code == 200 and "1,000,000 字符" in whole.text
    blocks = re.findall(r'<div class="chat chunk" dir="ltr">(.*?)</div>', whole.text, re.S)
    assert len(blocks) == 500 and "\u202e" not in whole.text
    shown = html.unescape(
        re.sub(
            r'<span class="hidden-char"[^>]*>⟨U\+202E⟩</span>|<mark[^>]*>|</mark>',
            lambda m: "\u202e" if "202E" in m.group() else "",
            "".join(blocks),
        )
    )
    assert shown == text
    context_page = client.get("/review/long-1/full/context").text
    assert "第二轮" * 3_000 in "".join(re.findall(r'<div class="chat chunk" dir="ltr">(.*?)</div>', context_page, re.S))
    assert client.get("/review/long-1/full/nothing").status_code == 404
