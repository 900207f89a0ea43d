"""Normalisation undoes each kind of variant, and every normalised character maps back to the text."""

from __future__ import annotations

import pytest

from guardstream.blocklist.normalise import (
    Gap,
    fold,
    latin_words,
    normalise,
    pinyin_pieces,
    split_spellings,
    syllables,
)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("ＳＨＡＢＩ", "shabi"),  # full-width, upper case
        ("殺人", "杀人"),  # traditional
        ("傻\u200b逼", "傻逼"),  # zero-width space
        ("傻\u200d\ufeff\u2060逼", "傻逼"),  # joiner, BOM, word joiner
        ("傻 逼", "傻逼"),  # space
        ("傻.逼", "傻逼"),  # punctuation
        ("傻😂逼", "傻逼"),  # emoji
        ("傻★逼", "傻逼"),  # symbol
        ("ロ交", "口交"),  # katakana look-alike
        ("ѕb", "sb"),  # Cyrillic look-alike
        ("艹泥马", "草泥马"),  # radical for the character
        ("傻̶逼", "傻逼"),  # combining strike-through
    ],
)
def test_each_variant_kind_is_undone(written: str, expected: str) -> None:
    assert normalise(written).text == expected


def test_offsets_map_each_character_back_to_where_it_stood() -> None:
    text = "你 个 傻\u200b逼！"
    normalised = normalise(text)
    assert normalised.text == "你个傻逼"
    assert [text[s:e] for s, e in zip(normalised.starts, normalised.ends, strict=True)] == ["你", "个", "傻", "逼"]
    assert normalised.original_span(2, 4) == (4, 7)


def test_gaps_say_what_was_dropped() -> None:
    normalised = normalise("a\u200bb.c d")
    assert [normalised.gap_before(k) for k in range(4)] == [Gap.NONE, Gap.INVISIBLE, Gap.MARK, Gap.SPACE]


def test_fold_keeps_separators_and_only_unifies_width_and_case() -> None:
    folded = fold("ＡＢ c傻\u200b逼")
    assert folded.text == "ab c傻\u200b逼"
    assert len(folded.starts) == len(folded.text)


def test_split_spellings_decompose_the_term_not_the_text() -> None:
    assert {"弓虽奸", "强女干", "弓虽女干"} <= set(split_spellings("强奸"))
    assert "亻尔" in "".join(split_spellings("你"))
    assert normalise("女子学校").text == "女子学校"  # ordinary text is never composed


def test_syllables_read_characters_latin_runs_and_lone_digits() -> None:
    assert syllables(normalise("你是sha bi")).text == "|ni|shi|sha|bi|"
    assert syllables(normalise("去4吧")).text == "|qu|si|ba|"
    assert syllables(normalise("去4楼")).text == "|qu|#|lou|"  # a quantity, not 死
    assert syllables(normalise("mp3")).text == "|mp|#|"
    assert syllables(normalise("xiaori本")).text == "|xiao|ri|ben|"


def test_syllable_spans_map_back_to_normalised_characters() -> None:
    normalised = normalise("他是煞笔吧")
    projected = syllables(normalised)
    start = projected.text.index("|sha|bi|")
    assert projected.normalised_span(start, start + len("|sha|bi|")) == (2, 4)


def test_latin_words_split_on_visible_gaps_only() -> None:
    assert latin_words(normalise("我的usb坏了 s.b")).text == " usb s b "
    assert latin_words(normalise("s\u200bb")).text == " sb "
    assert latin_words(normalise("只有中文")).text == " "


def test_pinyin_pieces_cut_whole_runs_or_nothing() -> None:
    assert pinyin_pieces("gaolibangzi") == ["gao", "li", "bang", "zi"]
    assert pinyin_pieces("usb") is None
