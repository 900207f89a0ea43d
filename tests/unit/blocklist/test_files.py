"""Blocklist files load into the shared types; every error names the file and the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardstream.blocklist.files import (
    dump_blocklist,
    load_blocklist,
    load_lists,
    load_plain_terms,
    parse_blocklist,
    shipped_lists,
)
from guardstream.blocklist.model import ListEffect, MatchMode, TermAction
from guardstream.errors import ConfigurationError
from guardstream.guard.categories import HarmCategory

GOOD = """\
name: hate-abuse
description: "insults: the common ones"
effect: decide
terms:
  - {term: 傻逼, category: hate_abuse, action: unsafe, match: variant}
  - {term: motherfucker, category: hate_abuse, match: exact}
  - {term: 白痴, category: hate_abuse, action: review}
"""


def write(tmp_path: Path, text: str, name: str = "list.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_loads_with_version_zero_and_defaults(tmp_path: Path) -> None:
    blocklist = load_blocklist(write(tmp_path, GOOD))
    assert (blocklist.name, blocklist.version, blocklist.effect) == ("hate-abuse", 0, ListEffect.DECIDE)
    assert blocklist.description == "insults: the common ones"
    assert [(t.term, t.action, t.match) for t in blocklist.terms] == [
        ("傻逼", TermAction.UNSAFE, MatchMode.VARIANT),
        ("motherfucker", TermAction.UNSAFE, MatchMode.EXACT),
        ("白痴", TermAction.REVIEW, MatchMode.VARIANT),
    ]


def test_a_raise_list_carries_its_raise_to_and_a_stated_version(tmp_path: Path) -> None:
    text = GOOD.replace("effect: decide", "effect: raise\nraise_to: 0.8\nversion: 4")
    blocklist = load_blocklist(write(tmp_path, text))
    assert (blocklist.effect, blocklist.raise_to, blocklist.version) == (ListEffect.RAISE, 0.8, 4)


def test_a_list_written_out_reads_back_equal(tmp_path: Path) -> None:
    for blocklist in shipped_lists():
        assert parse_blocklist(dump_blocklist(blocklist), source="again") == blocklist


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            GOOD.replace("category: hate_abuse, action: review", "category: hate, action: review"),
            "terms[2].category (白痴)",
        ),
        (GOOD.replace("match: exact", "match: fuzzy"), "terms[1].match (motherfucker)"),
        (GOOD.replace("action: unsafe", "action: block"), "terms[0].action (傻逼)"),
        (GOOD.replace("effect: decide", "effect: raise"), "effect raise needs raise_to"),
        (GOOD.replace("effect: decide", "effect: decide\nraise_to: 0.7"), "raise_to is only for effect raise"),
        (GOOD + "  - {term: 傻逼, category: hate_abuse}\n", "terms[3] (傻逼) repeats terms[0]"),
        (GOOD.replace("name: hate-abuse", "name: Hate Abuse"), "name:"),
        (GOOD + "colour: red\n", "colour: Extra inputs are not permitted"),
        ("name: x\nterms: []\n", "terms: List should have at least 1 item"),
        ("name: [unclosed\n", "not valid YAML"),
        (GOOD.replace("{term: 白痴,", "{term: '  ',"), "terms[2].term"),
    ],
)
def test_errors_name_the_file_and_the_entry(tmp_path: Path, text: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        load_blocklist(path)
    assert str(path) in str(caught.value)
    assert says in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nothere\.yaml: cannot read it"):
        load_blocklist(tmp_path / "nothere.yaml")


def test_a_plain_text_file_takes_the_callers_category_action_and_match(tmp_path: Path) -> None:
    path = write(tmp_path, "# scam phrases\n安全账户\n\n  刷单返利  \n", name="Scams.txt")
    blocklist = load_plain_terms(
        path, category=HarmCategory.PRIVACY_PROPERTY, action=TermAction.REVIEW, match=MatchMode.EXACT
    )
    assert blocklist.name == "scams"
    assert [(t.term, t.category, t.action, t.match) for t in blocklist.terms] == [
        ("安全账户", HarmCategory.PRIVACY_PROPERTY, TermAction.REVIEW, MatchMode.EXACT),
        ("刷单返利", HarmCategory.PRIVACY_PROPERTY, TermAction.REVIEW, MatchMode.EXACT),
    ]


def test_a_plain_text_file_with_a_repeated_term_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "安全账户\n安全账户\n", name="scams.txt")
    with pytest.raises(ConfigurationError, match=r"scams.txt: .*terms\[1\] \(安全账户\) repeats terms\[0\]"):
        load_plain_terms(path, category=HarmCategory.PRIVACY_PROPERTY)


def test_two_files_may_not_give_the_same_list_name(tmp_path: Path) -> None:
    first = write(tmp_path, GOOD, "a.yaml")
    second = write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(ConfigurationError, match="hate-abuse is given by more than one file"):
        load_lists([first, second])


def test_one_shipped_list_per_harm_scenario_each_of_15_to_40_terms() -> None:
    lists = shipped_lists()
    assert len(lists) == 7
    for blocklist in lists:
        categories = {t.category for t in blocklist.terms}
        assert len(categories) == 1
        assert 15 <= len(blocklist.terms) <= 40, blocklist.name
        assert any(t.term.isascii() for t in blocklist.terms), f"{blocklist.name} has no Latin term"
    assert {next(iter({t.category for t in lst.terms})) for lst in lists} == set(HarmCategory)
