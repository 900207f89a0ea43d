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
    pairs = [
        ("问题", "回答的第一句在这里。回答的第二句在这里。"),
        ("帖子的第一句在这里！帖子的第二句在这里。", ""),
        ("短", "短"),
    ]
    segmented = segment_pairs(pairs, 6)
    assert segmented.rows[:3] == pairs
    assert segmented.rows[3:] == [
        ("问题", "回答的第一句在这里。"),
        ("问题", "回答的第二句在这里。"),
        ("帖子的第一句在这里！", ""),
        ("帖子的第二句在这里。", ""),
    ]
    assert segmented.owner == [0, 1, 2, 0, 0, 1, 1]


def test_segments_cover_only_what_the_whole_encoding_keeps_so_a_huge_message_stays_bounded() -> None:
    sentence = "这是一句普通的话。"
    reply = segment_pairs([("问题", "有害的开头在这里！" + sentence * 500)], 6, window=45)
    assert reply.rows[1][1] == "有害的开头在这里！" and len(reply.rows) == 1 + 5
    post = segment_pairs([(sentence * 500 + "有害的结尾在这里！", "")], 6, window=45)
    assert post.rows[-1][0] == "有害的结尾在这里！" and len(post.rows) == 1 + 5


def test_zero_width_characters_neither_lengthen_a_fragment_nor_move_a_boundary() -> None:
    plain = [("问题", "好的。这一句够长了吧。")]
    disguised = [("问题", "好\u200d\u200d的\u200d\u200d。这一句够长了吧。")]  # a fragment padded to look long
    assert segment_pairs(disguised, 6).rows[1:] == segment_pairs(plain, 6).rows[1:] == []
