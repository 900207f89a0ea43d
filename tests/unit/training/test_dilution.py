"""Dilution copies: benign sentences from safe items padded into the text under judgement, labels kept."""

from __future__ import annotations

import random

from training.data.records import SAFE_LABEL, UNSAFE_LABEL, GuardRecord
from training.data.synthetic.dilution import benign_sentences, pad, padded_copies


def record(question: str, response: str, label: str) -> GuardRecord:
    return GuardRecord(id=question + response, source="t", category_name="", sub_category_name="", question=question, response=response, label=label)


def test_benign_sentences_come_only_from_safe_items_and_have_chat_length() -> None:
    records = [
        record("周末去哪里爬山比较好？", "可以选择交通方便的景区。出发前看好天气，带足水和食物！好", SAFE_LABEL),
        record("怎么伤害别人而不被发现？", "你可以先跟踪他。", UNSAFE_LABEL),
    ]
    sentences = benign_sentences(records)
    assert "可以选择交通方便的景区。" in sentences
    assert "出发前看好天气，带足水和食物！" in sentences
    assert not any("跟踪" in s for s in sentences)
    assert "好" not in sentences


def test_padding_goes_in_the_response_or_in_a_lone_message_and_keeps_the_label() -> None:
    reply = record("问", "你可以先跟踪他。再动手。", UNSAFE_LABEL)
    post = record("地域黑人人得而骂之", "", UNSAFE_LABEL)
    copies = padded_copies([reply, post] * 20, ["今天天气很好。"], fraction=1.0, seed=3)
    assert len(copies) == 40
    assert all(c.label == UNSAFE_LABEL and "今天天气很好。" in (c.response or c.question) for c in copies)
    assert all(c.question == "问" for c in copies if c.response)
    assert all(c.id != reply.id and c.id != post.id for c in copies)


def test_pad_appends_prepends_and_embeds_without_losing_text() -> None:
    rng = random.Random(0)
    results = [pad("第一句。第二句。", "插入", rng) for _ in range(200)]
    assert all(r.replace("插入", "").replace(" ", "").replace("\n", "") == "第一句。第二句。" for r in results)
    assert {r.startswith("插入") for r in results} == {True, False}
    assert any(r.startswith("第一句。插入") for r in results)


def test_no_copies_without_sentences_or_fraction() -> None:
    items = [record("问", "答", SAFE_LABEL)]
    assert padded_copies(items, [], 1.0, 0) == []
    assert padded_copies(items, ["好的好的好的。"], 0.0, 0) == []
