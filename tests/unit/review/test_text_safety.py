"""Hostile chat text renders as inert, visible text."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from workers.review.text_safety import reveal, reveal_plain, warnings


def test_markup_is_escaped_never_interpreted() -> None:
    html = str(reveal('<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>'))
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "&lt;script&gt;" in html and "onerror=&#34;alert(2)&#34;" in html


def test_bidi_controls_and_invisible_characters_become_visible_markers() -> None:
    html = str(reveal("invoice\u202etxt.exe a\u200bb \u2066x\u2069 \U000e0041"))
    for code in ("202E", "200B", "2066", "2069", "E0041"):
        assert f"⟨U+{code}⟩" in html
    assert "\u202e" not in html and "\u200b" not in html and "\U000e0041" not in html
    lines = warnings("invoice\u202etxt.exe")
    assert lines == ["bidirectional control: ⟨U+202E⟩ RIGHT-TO-LEFT OVERRIDE"]


def test_lookalike_words_are_marked_but_chinese_mixed_with_latin_is_not() -> None:
    html = str(reveal("请登录 pаypal.com 用Python写 ｐａｙ 𝐩𝐚𝐲"))
    assert '<mark class="lookalike" title="mixed scripts: Cyrillic+Latin">pаypal</mark>' in html
    assert "用Python写" in html and html.count("<mark") == 3
    assert any("Cyrillic+Latin" in line for line in warnings("pаypal"))
    assert warnings("用Python写代码，很安全。") == []


def test_stacked_combining_marks_are_trimmed() -> None:
    html = str(reveal("a" + "\u0301" * 30))
    assert html.count("\u0301") == 2
    assert warnings("a" + "\u0301" * 30) == ["combining marks: stacked combining marks"]


def test_findings_over_a_long_text_are_listed_once_each_in_order_of_first_appearance() -> None:
    text = (
        "普通的聊天内容 plain words " * 20_000 + "pаypal \u200b" + "more text " * 1_000 + "\u202e pаypal ｐａｙ \u200b"
    )
    assert warnings(text) == [
        "invisible character: ⟨U+200B⟩ ZERO WIDTH SPACE",
        "bidirectional control: ⟨U+202E⟩ RIGHT-TO-LEFT OVERRIDE",
        "look-alike word: 'pаypal': mixed scripts: Cyrillic+Latin",
        "look-alike word: 'ｐａｙ': fullwidth letters",
    ]


@settings(max_examples=300)
@given(
    st.text(
        st.sampled_from([*list("ab 中文<>&\"'\n\tаΑｐ𝐩"), "́", "̀", "\u202e", "\u200b", "\x01", "\U000e0041"]),
        max_size=80,
    )
)
def test_the_html_and_the_plain_reveal_say_the_same(text: str) -> None:
    html_text = re.sub(r"<[^>]*>", "", str(reveal(text)))
    assert html.unescape(html_text) == reveal_plain(text)
    assert "\u202e" not in html_text and "\u200b" not in html_text
