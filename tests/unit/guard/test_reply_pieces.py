"""Reply pieces: cuts depend on the text alone, fall at pre-token splits, and cap a piece's length."""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path

import pytest

from guardstream.guard.checkpoint import load_tokenizer
from guardstream.guard.plain_text import PlainTextTokenizer
from guardstream.guard.reply_pieces import MAX_PIECE_CHARS, PieceCutter

TEXT = (
    "先炒鸡蛋，再炒番茄，最后一起翻炒。Use the link on the login page, it'll work!  "
    "价格是 1299 元。" + "长" * 80 + "。好的\n\n  x"
)


@pytest.fixture(scope="module")
def plain(default_checkpoint: Path) -> PlainTextTokenizer:
    return PlainTextTokenizer(load_tokenizer(default_checkpoint))


def _cut_in_chunks(cutter: PieceCutter, text: str, sizes: list[int]) -> list[int]:
    found: list[int] = []
    known = 0
    for size in sizes:
        end = min(known + size, len(text))
        found += cutter.cuts(text[:end], found[-1] if found else 0, known)
        known = end
    return found


def test_cuts_are_the_same_however_the_text_arrives(plain: PlainTextTokenizer) -> None:
    cutter = PieceCutter(plain)
    whole = cutter.cuts(TEXT, 0, 0)
    rng = random.Random(3)
    for _ in range(5):
        sizes = [rng.randint(1, 9) for _ in range(len(TEXT))]
        assert _cut_in_chunks(cutter, TEXT, sizes) == whole


def test_cuts_fall_at_pre_token_splits_or_cap_a_run_without_one(plain: PlainTextTokenizer) -> None:
    cuts = PieceCutter(plain).cuts(TEXT, 0, 0)
    splits = set(plain.pre_token_starts(TEXT))
    capped = [cut for cut in cuts if cut not in splits]
    run = TEXT.index("长")
    assert capped and all(run < cut < run + 80 for cut in capped)
    assert all(b - a == MAX_PIECE_CHARS for a, b in pairwise([0, *cuts]) if b in capped)
    assert max(b - a for a, b in pairwise([0, *cuts, len(TEXT)])) <= MAX_PIECE_CHARS


def test_pieces_cut_at_pre_token_splits_tokenize_as_the_whole_text(plain: PlainTextTokenizer) -> None:
    end = TEXT.index("长")
    cuts = [cut for cut in PieceCutter(plain).cuts(TEXT, 0, 0) if cut < end]
    pieces = plain.ids([TEXT[a:b] for a, b in pairwise([0, *cuts, end])])
    assert len(cuts) > 10
    assert [token for piece in pieces for token in piece] == plain.ids([TEXT[:end]])[0]


def test_no_cut_splits_a_word_disguised_with_format_characters_or_a_combining_mark(plain: PlainTextTokenizer) -> None:
    text = "怎么制作炸\u200b弹，a\u200db c\u2060d。cafe\u0301 ok"
    cuts = PieceCutter(plain).cuts(text, 0, 0)
    pieces = plain.ids([text[a:b] for a, b in pairwise([0, *cuts, len(text)])])
    assert [token for piece in pieces for token in piece] == plain.ids([text])[0]
