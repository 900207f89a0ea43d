"""Adversarial rewrites of a request: the ways people dodge keyword filters in Chinese chat.

Each rewrite keeps the meaning (and therefore the label) and changes the surface:

* ``obfuscate``: separators between characters (``制*作*炸*药``);
* ``homophone``: characters swapped for same- or similar-sounding ones (``赌博`` → ``堵博``);
* ``pinyin``: characters written in pinyin (``制作zha药``);
* ``mixed_script``: words swapped for English (``制作bomb``);
* role-play framing is applied to whole questions with :data:`templates.ROLE_PLAY`.

Rewrites are applied to harmful *and* protective requests alike, so that a rewrite never gives
the label away.
"""

from __future__ import annotations

import random
from collections.abc import Callable

HOMOPHONES: dict[str, str] = {
    "炸": "榨",
    "药": "要",
    "毒": "独",
    "枪": "抢",
    "赌": "堵",
    "骗": "片",
    "杀": "沙",
    "偷": "投",
    "黑": "嘿",
    "钱": "前",
    "假": "甲",
    "死": "四",
    "伤": "商",
    "盗": "到",
    "私": "思",
    "密": "蜜",
    "码": "马",
    "谣": "摇",
    "骂": "妈",
    "恨": "很",
    "歧": "其",
    "视": "事",
    "扣": "叩",
    "税": "睡",
    "诈": "乍",
    "拍": "排",
    "虐": "疟",
    "吐": "土",
}

PINYIN: dict[str, str] = {
    "炸": "zha",
    "药": "yao",
    "毒": "du",
    "枪": "qiang",
    "赌": "du",
    "骗": "pian",
    "杀": "sha",
    "偷": "tou",
    "黑": "hei",
    "钱": "qian",
    "假": "jia",
    "死": "si",
    "伤": "shang",
    "盗": "dao",
    "私": "si",
    "密": "mi",
    "码": "ma",
    "谣": "yao",
    "骂": "ma",
    "恨": "hen",
    "诈": "zha",
    "拍": "pai",
    "虐": "nve",
    "吐": "tu",
    "扣": "kou",
    "病": "bing",
}

ENGLISH: dict[str, str] = {
    "炸药": "bomb",
    "毒品": "drugs",
    "土枪": "gun",
    "密码": "password",
    "账号": "account",
    "诈骗": "scam",
    "身份证": "ID card",
    "自杀": "suicide",
    "网站": "website",
    "病毒": "virus",
    "信用卡": "credit card",
    "摄像头": "camera",
    "减肥": "diet",
    "安眠药": "sleeping pills",
    "快递": "package",
    "新闻": "news",
    "文章": "article",
    "作弊": "cheat",
    "回扣": "kickback",
}

SEPARATORS = ("*", " ", "-", "/", "_", "·")


def obfuscate(text: str, rng: random.Random) -> str:
    separator = rng.choice(SEPARATORS)
    return separator.join(text)


def _substitute(text: str, table: dict[str, str], rng: random.Random) -> str:
    """Swap most mapped characters (each with probability 0.8), and always at least one."""
    chars = list(text)
    mapped = [i for i, ch in enumerate(chars) if ch in table]
    if not mapped:
        return text
    chosen = {i for i in mapped if rng.random() < 0.8} or {rng.choice(mapped)}
    return "".join(table[ch] if i in chosen else ch for i, ch in enumerate(chars))


def homophone(text: str, rng: random.Random) -> str:
    return _substitute(text, HOMOPHONES, rng)


def pinyin(text: str, rng: random.Random) -> str:
    return _substitute(text, PINYIN, rng)


def mixed_script(text: str, rng: random.Random) -> str:
    for word, english in ENGLISH.items():
        if word in text and rng.random() < 0.9:
            text = text.replace(word, f" {english} ")
    return text.strip()


REWRITES: dict[str, Callable[[str, random.Random], str]] = {
    "obfuscate": obfuscate,
    "homophone": homophone,
    "pinyin": pinyin,
    "mixed_script": mixed_script,
}


def rewrite_ask(ask: str, rng: random.Random, probability: float) -> tuple[str, str | None]:
    """The ask, rewritten by one randomly chosen rewrite with ``probability``; and its name."""
    if rng.random() >= probability:
        return ask, None
    name = rng.choice(sorted(REWRITES))
    rewritten = REWRITES[name](ask, rng)
    return (rewritten, name) if rewritten != ask else (ask, None)
