"""Parsing generated verdicts: tolerant of broken JSON, never `safe` when nothing was said."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from guardstream.guard.categories import HarmCategory
from guardstream.guard.verdict_parsing import parse_guard_output, render_verdict_json
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


FRAGMENTS = ['{', '}', '"', ':', '：', ',', '答案', 'answer', '安全', '不安全', '分析', '类别', ' ', '\n', '[', ']', '不']
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
