"""The matcher finds every kind of variant, keeps out the innocent look-alikes, and reports original offsets."""

from __future__ import annotations

import pytest

from guardstream.blocklist.files import shipped_lists
from guardstream.blocklist.matcher import BlocklistMatcher
from guardstream.blocklist.model import Blocklist, BlocklistTerm, Hit, ListEffect, MatchMode, TermAction
from guardstream.guard.categories import HarmCategory

HATE = HarmCategory.HATE_ABUSE
HEALTH = HarmCategory.PHYSICAL_MENTAL_HEALTH


def term(text: str, match: MatchMode = MatchMode.VARIANT, category: HarmCategory = HATE) -> BlocklistTerm:
    return BlocklistTerm(text, category, TermAction.UNSAFE, match)


ABUSE = Blocklist(
    "abuse",
    3,
    terms=(
        term("傻逼"),
        term("你妈死了"),
        term("强奸"),
        term("sb"),
        term("heroin"),
        term("motherfucker", MatchMode.EXACT),
        term("K粉"),
    ),
)
HEALTH_LIST = Blocklist(
    "health",
    7,
    ListEffect.RAISE,
    0.8,
    terms=(term("自杀", category=HEALTH), term("傻逼", category=HEALTH), term("安眠药", category=HEALTH)),
)


@pytest.fixture(scope="module")
def matcher() -> BlocklistMatcher:
    return BlocklistMatcher.build([ABUSE, HEALTH_LIST])


def found(matcher: BlocklistMatcher, text: str) -> list[tuple[str, str, str]]:
    return [(hit.term.term, hit.variant, text[hit.start : hit.end]) for hit in matcher.find(text)]


@pytest.mark.parametrize(
    ("text", "listed", "how", "where"),
    [
        ("你就是个傻逼吧", "傻逼", "exact", "傻逼"),
        ("你就是个煞笔吧", "傻逼", "homophone", "煞笔"),
        ("主播shabi", "傻逼", "pinyin", "shabi"),
        ("主播 Sha Bi 啊", "傻逼", "pinyin", "Sha Bi"),
        ("你是傻bi吧", "傻逼", "homophone", "傻bi"),
        ("nmsl", "你妈死了", "initials", "nmsl"),
        ("N.M.S.L", "你妈死了", "initials", "N.M.S.L"),
        ("你個傻屄", "傻逼", "homophone", "傻屄"),
        ("他是弓虽女干犯", "强奸", "normalised", "弓虽女干"),
        ("傻\u200b逼", "傻逼", "normalised", "傻\u200b逼"),
        ("傻 😂 逼", "傻逼", "normalised", "傻 😂 逼"),
        ("ｓｈａｂｉ", "傻逼", "pinyin", "ｓｈａｂｉ"),
        ("SB主播", "sb", "exact", "SB"),
        ("s.b", "sb", "normalised", "s.b"),
        ("h e r o i n", "heroin", "normalised", "h e r o i n"),
        ("买K粉吗", "K粉", "exact", "K粉"),
        ("他想zisha", "自杀", "pinyin", "zisha"),
        ("买点amy", "安眠药", "initials", "amy"),
        ("买点AMY", "安眠药", "initials", "AMY"),
    ],
)
def test_each_variant_kind_hits_at_its_place(
    matcher: BlocklistMatcher, text: str, listed: str, how: str, where: str
) -> None:
    assert (listed, how, where) in found(matcher, text)


@pytest.mark.parametrize(
    "text",
    [
        "我的usb坏了",  # sb inside a word
        "SBUX的新品",
        "a hero in the game",  # heroin across two words
        "我买了个紫砂壶",  # 紫砂 sounds like 自杀 but is a word
        "事实上他说得对",
        "孩子杀鸡给猴看",  # 子杀 runs across 孩子
        "你太傻，比较一下",  # 傻比 runs into 比较
        "我去4楼拿快递",  # 4 is a quantity there
        "OK粉丝们好",  # K粉 inside OK粉丝
        "Amy今天来了",  # a name, not the initials of 安眠药
        "女子学校",
        "杀入决赛",
    ],
)
def test_innocent_look_alikes_do_not_hit(matcher: BlocklistMatcher, text: str) -> None:
    assert found(matcher, text) == []


def test_exact_terms_match_only_as_written_up_to_width_and_case(matcher: BlocklistMatcher) -> None:
    assert [h[:2] for h in found(matcher, "MOTHERFUCKER")] == [("motherfucker", "exact")]
    assert [h[:2] for h in found(matcher, "ｍｏｔｈｅｒｆｕｃｋｅｒ")] == [("motherfucker", "exact")]
    assert found(matcher, "mother\u200bfucker") == []
    assert found(matcher, "mother fucker") == []


def test_a_term_in_two_lists_hits_once_per_list_with_each_lists_effect(matcher: BlocklistMatcher) -> None:
    hits = matcher.find("傻逼")
    assert sorted((hit.list_name, hit.list_version, hit.effect, hit.raise_to) for hit in hits) == [
        ("abuse", 3, ListEffect.DECIDE, 0.5),
        ("health", 7, ListEffect.RAISE, 0.8),
    ]


def test_several_terms_in_one_text_give_hits_in_order_of_place(matcher: BlocklistMatcher) -> None:
    text = "sb你好，不想活就自杀，傻\u200b逼"
    hits = [hit for hit in matcher.find(text) if hit.list_name == "abuse"] + [
        hit for hit in matcher.find(text) if hit.term.term == "自杀"
    ]
    assert {(hit.term.term, text[hit.start : hit.end]) for hit in hits} == {
        ("sb", "sb"),
        ("自杀", "自杀"),
        ("傻逼", "傻\u200b逼"),
    }
    starts = [hit.start for hit in matcher.find(text)]
    assert starts == sorted(starts)


def test_offsets_point_into_the_original_text(matcher: BlocklistMatcher) -> None:
    text = "ＡＢＣ 你 個 傻 屄 ！"
    (hit,) = [h for h in matcher.find(text) if h.list_name == "abuse"]
    assert (hit.start, hit.end) == (text.index("傻"), text.index("屄") + 1)
    assert isinstance(hit, Hit)


def test_one_variant_reports_one_hit_per_term(matcher: BlocklistMatcher) -> None:
    # 傻逼 matches as written, as homophone and as pinyin of itself: one hit, the best
    hits = [hit for hit in matcher.find("傻逼") if hit.list_name == "abuse"]
    assert [(hit.variant, hit.start, hit.end) for hit in hits] == [("exact", 0, 2)]


def test_an_empty_matcher_finds_nothing() -> None:
    assert BlocklistMatcher.build([]).find("傻逼") == []


def test_the_shipped_lists_build_one_automaton() -> None:
    matcher = BlocklistMatcher.build(shipped_lists())
    assert matcher.key_count > 500
    assert {hit.list_name for hit in matcher.find("冰毒 自杀 sb 开盒")} >= {
        "illegal-activities",
        "physical-mental-health",
        "hate-abuse",
        "privacy-property",
    }
