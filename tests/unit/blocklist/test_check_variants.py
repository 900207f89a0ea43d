"""The variant generator and the measured check: deterministic, honest about what it draws, and on target."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardstream.blocklist.benign import benign_corpus
from guardstream.blocklist.files import shipped_lists
from guardstream.blocklist.frames import HELD_OUT_FRAMES, TUNING_FRAMES
from guardstream.blocklist.matcher import BlocklistMatcher
from guardstream.blocklist.model import Blocklist, BlocklistTerm, MatchMode
from guardstream.blocklist.normalise import normalise
from guardstream.blocklist.variants import VariantKind, generate_variants
from guardstream.guard.categories import HarmCategory
from workers.cli.main import app

POLICY_LINE = re.compile(
    r"^POLICY n=(\d+) variant_recall=(\d+\.\d{4}) false_hit_rate=(\d+\.\d{4}) us_per_event=(\d+\.\d{4})$"
)
SMALL = Blocklist(
    "small",
    0,
    terms=(
        BlocklistTerm("傻逼", HarmCategory.HATE_ABUSE),
        BlocklistTerm("你妈死了", HarmCategory.HATE_ABUSE),
        BlocklistTerm("强奸", HarmCategory.ILLEGAL_ACTIVITIES),
        BlocklistTerm("自杀", HarmCategory.PHYSICAL_MENTAL_HEALTH),
        BlocklistTerm("nigger", HarmCategory.BIAS_DISCRIMINATION),
        BlocklistTerm("motherfucker", HarmCategory.HATE_ABUSE, match=MatchMode.EXACT),
    ),
)


def test_the_generator_is_deterministic_and_draws_every_kind() -> None:
    first = generate_variants([SMALL], per_kind=3, seed=5)
    assert first == generate_variants([SMALL], per_kind=3, seed=5)
    assert first != generate_variants([SMALL], per_kind=3, seed=6)
    assert {item.kind for item in first} == set(VariantKind)
    assert "motherfucker" not in {item.term for item in first}  # exact terms have no variants
    for item in first:
        assert item.variant != item.term
        assert item.text[item.start : item.start + len(item.variant)] == item.variant


def test_held_out_frames_are_apart_from_the_tuning_frames() -> None:
    assert not set(HELD_OUT_FRAMES) & set(TUNING_FRAMES)
    held_out = generate_variants([SMALL], per_kind=2, seed=1)
    assert all(any(item.text == f.format(item.variant) for f in HELD_OUT_FRAMES) for item in held_out)


def test_homophones_sound_alike_and_are_spelled_otherwise() -> None:
    homophones = [item for item in generate_variants([SMALL], per_kind=5, seed=2) if item.kind is VariantKind.HOMOPHONE]
    assert homophones
    for item in homophones:
        assert normalise(item.variant).text != item.term


def test_the_benign_corpus_holds_hard_look_alikes_and_no_listed_term() -> None:
    lists = shipped_lists()
    corpus = benign_corpus(lists, seed=0)
    kinds = {item.kind for item in corpus}
    assert {"shared_chars", "homophone_word", "cross_word", "latin", "numbers", "traditional"} <= kinds
    texts = " ".join(item.text for item in corpus)
    assert "紫砂" in texts and "usb" in texts  # the look-alikes the brief names are really there
    terms = [normalise(t.term).text for lst in lists for t in lst.terms if not t.term.isascii()]
    assert not any(term in normalise(item.text).text for item in corpus for term in terms)


def test_a_matcher_without_its_guards_would_fail_the_benign_corpus() -> None:
    """The benign corpus is hard enough to catch a matcher that drops its lexical guard."""
    lists = shipped_lists()
    matcher = BlocklistMatcher.build(lists)
    corpus = benign_corpus(lists, seed=0)
    guarded = sum(1 for item in corpus if matcher.find(item.text))

    class NoLexicon:
        def cuts_across(self, text: str, start: int, end: int) -> bool:
            return False

        def only_common_chars(self, text: str) -> bool:
            return False

    unguarded = BlocklistMatcher.build(lists, lexicon=NoLexicon())  # type: ignore[arg-type]
    falsely_hit = sum(1 for item in corpus if unguarded.find(item.text))
    assert falsely_hit > 10 * max(guarded, 1)


@pytest.mark.timeout(240)
def test_check_variants_prints_the_policy_line_last_and_meets_the_targets(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["policy", "check-variants", "--variants-per-kind", "2", "--json-out", str(out)])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    match = POLICY_LINE.match(last)
    assert match, last
    n, recall, false_hits, us = int(match[1]), float(match[2]), float(match[3]), float(match[4])
    assert n > 2000
    assert recall >= 0.95
    assert false_hits <= 0.01
    assert 0 < us < 2000
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["n"] == n
    assert {kind["kind"] for kind in report["variant_kinds"]} == {kind.value for kind in VariantKind}
    assert "homophone" in result.output and "false hits" in result.output


def test_check_variants_reads_the_lists_it_is_given(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nterms:\n  - {term: 傻逼, category: hate_abuse}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["policy", "check-variants", "--list", str(path), "--variants-per-kind", "1"])
    assert result.exit_code == 0, result.output
    assert "lists: mine;" in result.output
    assert POLICY_LINE.match(result.output.strip().splitlines()[-1])


def test_check_variants_names_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nterms:\n  - {term: 傻逼, category: nope}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["policy", "check-variants", "--list", str(path)])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output and "terms[0].category (傻逼)" in result.output
