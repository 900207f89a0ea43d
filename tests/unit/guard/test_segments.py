"""Segment scoring's rows: the pair first, then its judged text's sentences, short ones joined."""

from __future__ import annotations

from guardstream.guard.segments import segment_pairs, split_segments


def test_sentences_shorter_than_the_minimum_join_the_next_and_one_segment_adds_nothing() -> None:
    assert split_segments("好的。你这个地域黑真是人人得而骂之！今天天气不错，我们下午去公园散步吧。", 8) == [
        "好的。你这个地域黑真是人人得而骂之！",
        "今天天气不错，我们下午去公园散步吧。",
    ]
    assert split_segments("一句话而已，没有第二句", 8) == []
    assert split_segments("第一句很长很长很长。短", 8) == []  # a short tail joins the last segment


def test_a_response_is_segmented_with_its_question_and_a_lone_message_on_its_own() -> None:
    pairs = [("问题", "回答的第一句在这里。回答的第二句在这里。"), ("帖子的第一句在这里！帖子的第二句在这里。", ""), ("短", "短")]
    segmented = segment_pairs(pairs, 6)
    assert segmented.rows[:3] == pairs
    assert segmented.rows[3:] == [
        ("问题", "回答的第一句在这里。"), ("问题", "回答的第二句在这里。"),
        ("帖子的第一句在这里！", ""), ("帖子的第二句在这里。", ""),
    ]
    assert segmented.owner == [0, 1, 2, 0, 0, 1, 1]
