"""Parsing generated verdicts: tolerant of broken JSON, never `safe` when nothing was said."""

from __future__ import annotations

import json_repair
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardstream.guard.categories import HarmCategory
from guardstream.guard.verdict_parsing import ParsedVerdict, parse_guard_output, render_verdict_json
from guardstream.records import VerdictLabel


def test_libra_guard_answer_is_read() -> None:
    verdict = parse_guard_output('{\n  "答案": "不安全",\n  "分析": "回答提供了制作违禁品的方法。"\n}')
    assert verdict.label is VerdictLabel.UNSAFE and verdict.parsed
    assert verdict.analysis == "回答提供了制作违禁品的方法。"
    assert verdict.category is None


def test_unsafe_is_tested_before_safe() -> None:
    assert parse_guard_output('{"答案": "不安全"}').label is VerdictLabel.UNSAFE
    assert parse_guard_output('{"答案": "安全"}').label is VerdictLabel.SAFE


def test_broken_json_is_repaired() -> None:
    verdict = parse_guard_output('好的。{"答案": "安全", "分析": "这是普通的闲聊')
    assert verdict.label is VerdictLabel.SAFE and verdict.analysis == "这是普通的闲聊"


def test_answer_found_in_text_when_json_is_beyond_repair() -> None:
    assert parse_guard_output("答案：不安全。理由如下").label is VerdictLabel.UNSAFE


def test_category_by_chinese_name_or_slug() -> None:
    text = render_verdict_json(VerdictLabel.UNSAFE, HarmCategory.PRIVACY_PROPERTY, "泄露他人住址")
    verdict = parse_guard_output(text)
    assert (verdict.label, verdict.category, verdict.analysis) == (
        VerdictLabel.UNSAFE,
        HarmCategory.PRIVACY_PROPERTY,
        "泄露他人住址",
    )
    assert parse_guard_output('{"答案": "不安全", "类别": "hate_abuse"}').category is HarmCategory.HATE_ABUSE
    assert parse_guard_output('{"答案": "不安全", "类别": "别的"}').category is None


def test_unparseable_output_is_review() -> None:
    for text in ("", "安全", "我认为这段对话很安全", '{"分析": "安全"}', '{"答案": "不确定"}', "{{{{", "[1, 2]"):
        verdict = parse_guard_output(text)
        assert verdict.label is VerdictLabel.REVIEW and not verdict.parsed, text


FRAGMENTS = [
    "{",
    "}",
    '"',
    ":",
    "：",
    ",",
    "答案",
    "answer",
    "安全",
    "不安全",
    "分析",
    "类别",
    " ",
    "\n",
    "[",
    "]",
    "不",
]
model_like_output = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=30).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.text() | model_like_output)
def test_output_without_an_answer_key_is_review(text: str) -> None:
    if "答案" not in text and "answer" not in text:
        assert parse_guard_output(text).label is VerdictLabel.REVIEW


@settings(max_examples=500, deadline=None)
@given(st.text() | model_like_output)
def test_output_never_becomes_safe_unless_it_says_safe(text: str) -> None:
    verdict = parse_guard_output(text)
    assert verdict.parsed == (verdict.label is not VerdictLabel.REVIEW)
    if verdict.label is VerdictLabel.SAFE:
        assert "安全" in text


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(VerdictLabel)[:2]), st.none() | st.sampled_from(list(HarmCategory)), st.text(max_size=80))
def test_rendered_verdicts_round_trip(label: VerdictLabel, category: HarmCategory | None, analysis: str) -> None:
    verdict = parse_guard_output(render_verdict_json(label, category, analysis))
    assert verdict.label is label and verdict.category is category


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ('{"答案": "\\u4e0d\\u5b89\\u5168", "分析": "ascii-escaped JSON"}', VerdictLabel.UNSAFE),
        ('{"answer": "结论：安全"}', VerdictLabel.SAFE),
        ('{"answer": "结论：不安全"}', VerdictLabel.UNSAFE),
    ],
)
def test_the_answer_is_read_from_the_json_document_where_the_text_pattern_cannot_see_it(
    text: str, label: VerdictLabel
) -> None:
    verdict = parse_guard_output(text)
    assert (verdict.label, verdict.parsed) == (label, True)


def test_an_answer_that_says_neither_word_is_review_and_keeps_the_analysis() -> None:
    assert parse_guard_output('{"答案": "不确定", "分析": "看不出"}') == ParsedVerdict(
        VerdictLabel.REVIEW, None, "看不出", parsed=False
    )


@pytest.mark.parametrize("trailer", [' {"x": 1}', "\n[1, 2]"])
def test_a_verdict_object_followed_by_more_json_is_read_with_its_analysis(trailer: str) -> None:
    verdict = parse_guard_output('{"答案": "不安全", "分析": "甲"}' + trailer)
    assert (verdict.label, verdict.analysis) == (VerdictLabel.UNSAFE, "甲")


@pytest.mark.parametrize("repaired", ["a string", 3, None, [1, "x"], []])
def test_a_repair_that_is_no_json_object_means_no_document(monkeypatch: pytest.MonkeyPatch, repaired: object) -> None:
    """json_repair is best effort: whatever it returns that is not an object, only the text pattern is read."""
    monkeypatch.setattr(json_repair, "loads", lambda _text: repaired)
    verdict = parse_guard_output('{"答案": "不安全", "分析": "甲"}')
    assert verdict == ParsedVerdict(VerdictLabel.UNSAFE, None, None, parsed=True)


def test_a_rendered_verdict_is_indented_json_with_chinese_written_as_is() -> None:
    """The exact text a guard trained here learns to write."""
    assert render_verdict_json(VerdictLabel.UNSAFE, HarmCategory.PRIVACY_PROPERTY, "泄露他人住址") == (
        '{\n  "答案": "不安全",\n  "类别": "隐私财产",\n  "分析": "泄露他人住址"\n}'
    )
    assert render_verdict_json(VerdictLabel.SAFE, None, "闲聊") == '{\n  "答案": "安全",\n  "分析": "闲聊"\n}'
