"""Benign chat lines for the variant check, with the innocent look-alikes that trip a careless matcher.

Kinds, each drawn with ``random.Random(seed)`` into the same carrier frames as the variants:

* ``ordinary``: plain chat lines;
* ``shared_chars``: ordinary words that share characters with a listed term (逼真 and 傻瓜 beside 傻逼);
* ``homophone_word``: ordinary words, and words holding one, that sound like a term (紫砂壶, 事实上);
* ``cross_word``: hand-written lines where a term's sound runs across ordinary words (孩子杀鸡);
* ``latin``: Latin words and chat abbreviations holding listed letters (usb, subway, yyds, Amy);
* ``numbers``: digits that are quantities (去4楼, 4S店);
* ``traditional`` and ``full_width``: the ordinary and shared-character lines in another script or width.

No line holds a listed term as written (after normalisation): that is a hit, not a look-alike.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from guardstream.blocklist import normalise as norm
from guardstream.blocklist.frames import ORDINARY_PHRASES
from guardstream.blocklist.lexicon import word_counts
from guardstream.blocklist.matcher import term_readings
from guardstream.blocklist.model import Blocklist, MatchMode
from guardstream.blocklist.variants import frames_for

COMMON_WORD_COUNT = 30
"""A word counted at least this often in jieba's corpus is common enough for a benign line."""

CROSS_WORD_LINES = (
    "孩子杀鸡给猴看",
    "你太傻，比较一下就知道了",
    "事实上他说得对",
    "我买了个紫砂壶",
    "你个子真高",
    "你马上过来",
    "你妈妈做饭真好吃",
    "去死海旅游了",
    "他说的事实在太多了",
    "这个币值得买吗",
    "他杀青了，明天回家",
    "自杀式的熬夜不可取",
    "冰山一角",
    "海洛城好玩吗",
    "大家一起四处看看",
    "那个路口的红绿灯",
    "这里是人民广场",
    "他是我的哥哥",
    "我们一起死磕这个关卡",
    "你看她多漂亮",
    "主播是个大神",
    "这个麻辣烫好吃",
    "你妈叫你回家吃饭",
    "别杀我，我投降",
    "今天去吃烧烤",
    "她的指甲真好看",
    "他脑子转得快",
    "把杀毒软件打开",
    "这个视频剪辑得不错",
    "他骂了一句就走了",
)

LATIN_LINES = (
    "我的usb接口坏了",
    "下班去subway吃三明治",
    "SBUX的新品好喝",
    "yyds",
    "awsl太可爱了",
    "xswl",
    "Amy今天来直播了",
    "NBA总决赛开始了",
    "晚上去KTV唱歌",
    "DIY一个手机壳",
    "明天交PPT",
    "GPS信号不好",
    "周末玩Xbox",
    "mp3还能用吗",
    "Bing搜一下",
    "去Dubai旅游",
    "I love this song",
    "she is so cute",
    "nice shot bro",
    "good game well played",
    "this is a bit much",
    "hello everyone, nice to meet you",
    "the CEO of the company",
    "my dad bought a new car",
    "let's go to the mall",
    "Sherry and Sam are here",
    "Thanks for the gift",
    "ok ok",
    "lol",
    "gg",
    "tnnd太难了",
    "dddd",
    "nbcs",
    "zqsg",
    "emo了",
    "up主加油",
    "B站见",
    "plz",
    "omg",
    "cpu跑满了",
)

NUMBER_LINES = (
    "我去4楼拿快递",
    "去4S店保养",
    "4点开播",
    "第4局输了",
    "还有4天放假",
    "我买了4个",
    "去7楼开会",
    "2024年快乐",
    "886，下次见",
    "520快乐",
    "我今年24岁",
    "给我4块钱",
    "5G信号好",
    "3连胜",
    "第748期",
)


@dataclass(frozen=True, slots=True)
class BenignItem:
    kind: str
    text: str


def benign_corpus(
    lists: Sequence[Blocklist], *, seed: int = 0, frames: str = "held_out", per_term: int = 2
) -> list[BenignItem]:
    """The benign lines for these lists: about ``per_term`` look-alike lines per term and kind, plus fixed ones."""
    rng = random.Random(seed)
    carriers = frames_for(frames)
    terms = [t.term for lst in lists for t in lst.terms]
    shared: list[str] = []
    sounding: list[str] = []
    for term in sorted(set(terms)):
        shared.extend(_draw(rng, _sharing_words(term), per_term))
        sounding.extend(_draw(rng, _sounding_words(term), per_term))
    items = [BenignItem("ordinary", rng.choice(carriers).format(p)) for p in ORDINARY_PHRASES]
    items += [BenignItem("shared_chars", rng.choice(carriers).format(w)) for w in shared]
    items += [BenignItem("homophone_word", rng.choice(carriers).format(w)) for w in sounding]
    items += [BenignItem("cross_word", line) for line in CROSS_WORD_LINES]
    items += [BenignItem("latin", rng.choice(carriers).format(line)) for line in LATIN_LINES]
    items += [BenignItem("numbers", line) for line in NUMBER_LINES]
    plain = [item.text for item in items if item.kind in ("ordinary", "shared_chars", "cross_word")]
    items += [BenignItem("traditional", norm.to_traditional(text)) for text in _draw(rng, plain, len(plain) // 3)]
    items += [BenignItem("full_width", _full_width(text)) for text in _draw(rng, plain, len(plain) // 6)]
    return [item for item in items if not _holds_a_term(item.text, lists)]


def _draw(rng: random.Random, pool: Sequence[str], count: int) -> list[str]:
    return rng.sample(list(pool), min(count, len(pool)))


def _sharing_words(term: str) -> list[str]:
    """Common words that hold one of the term's characters, in word-list order."""
    chars = {ch for ch in norm.normalise(term).text if norm.char_syllable(ch)}
    words, by_char = _common_words(), _words_by_char()
    return [words[index] for index in sorted({index for ch in chars for index in by_char.get(ch, ())})]


def _sounding_words(term: str) -> list[str]:
    """Common words that read like the term, or hold a stretch that does (紫砂壶 for 自杀)."""
    found = []
    spelled = norm.normalise(term).text
    for reading in term_readings(term):
        if len(reading) < 2:
            continue
        wanted = tuple(reading)
        for word, syllables in _words_by_syllables().get(wanted[0], ()):
            for k in range(len(syllables) - len(wanted) + 1):
                if syllables[k : k + len(wanted)] == wanted and word[k : k + len(wanted)] != spelled:
                    found.append(word)
                    break
    return sorted(set(found))


@functools.cache
def _common_words() -> tuple[str, ...]:
    return tuple(word for word, count in word_counts() if 2 <= len(word) <= 4 and count >= COMMON_WORD_COUNT)


@functools.cache
def _words_by_char() -> dict[str, list[int]]:
    """Character → the positions in :func:`_common_words` of the words that hold it."""
    table: dict[str, list[int]] = {}
    for index, word in enumerate(_common_words()):
        for ch in set(word):
            table.setdefault(ch, []).append(index)
    return table


@functools.cache
def _words_by_syllables() -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Syllable → the common words that have it, with their syllables."""
    table: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for word in _common_words():
        syllables = tuple(norm.char_syllable(ch) or "#" for ch in word)
        for syllable in set(syllables):
            table.setdefault(syllable, []).append((word, syllables))
    return table


def _holds_a_term(text: str, lists: Sequence[Blocklist]) -> bool:
    normalised = norm.normalise(text).text
    folded = norm.fold(text).text
    latin = norm.latin_words(norm.normalise(text)).text
    for blocklist in lists:
        for term in blocklist.terms:
            if term.match is MatchMode.EXACT:
                if norm.fold(term.term).text in folded:
                    return True
            elif all(norm.is_word_char(ch) for ch in norm.normalise(term.term).text):
                if f" {norm.normalise(term.term).text} " in latin:
                    return True
            elif norm.normalise(term.term).text in normalised:
                return True
    return False


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)
