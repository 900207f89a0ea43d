"""Stored blocklists: every change is versioned and kept; bad names and terms are refused by name."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine

from guardstream.audit.blocklist_store import BlocklistStore
from guardstream.blocklist.model import Blocklist, BlocklistTerm, ListEffect, MatchMode, TermAction
from guardstream.errors import ConfigurationError
from guardstream.guard.categories import HarmCategory

ABUSE = HarmCategory.HATE_ABUSE
FRAUD = HarmCategory.ILLEGAL_ACTIVITIES


def test_a_new_list_starts_at_version_one_and_each_change_bumps_it(audit_engine: Engine) -> None:
    store = BlocklistStore(audit_engine)
    first = store.add("abuse", [BlocklistTerm("傻逼", ABUSE)], by="ana")
    assert (first.version, first.effect, first.terms) == (1, ListEffect.DECIDE, (BlocklistTerm("傻逼", ABUSE),))
    again = store.add("abuse", [BlocklistTerm("傻逼", ABUSE)], by="ana")
    assert again.version == 1  # nothing changed
    review = BlocklistTerm("脑残", ABUSE, TermAction.REVIEW, MatchMode.EXACT)
    second = store.add("abuse", [review], by="bo", effect=ListEffect.RAISE, raise_to=0.8)
    assert (second.version, second.effect, second.raise_to) == (2, ListEffect.RAISE, 0.8)
    assert store.remove("abuse", ["傻逼"], by="ana").terms == (review,)
    assert store.versions() == {"abuse": 3}
    history = store.history("abuse")
    assert [(row["version"], row["change"], row["changed_by"]) for row in history] == [
        (1, "add", "ana"), (2, "add", "bo"), (3, "remove", "ana"),
    ]  # fmt: skip
    assert json.loads(str(history[1]["detail"])) == [
        "effect=raise",
        "raise_to=0.8",
        "+脑残 (hate_abuse, review, exact)",
    ]


def test_an_import_replaces_the_list_and_records_what_it_changed(audit_engine: Engine) -> None:
    store = BlocklistStore(audit_engine)
    store.add("scams", [BlocklistTerm("刷单", FRAUD), BlocklistTerm("洗钱", FRAUD)], by="ana")
    imported = Blocklist(
        "scams", 0, description="fraud", terms=(BlocklistTerm("洗钱", FRAUD), BlocklistTerm("跑分", FRAUD))
    )
    stored = store.replace(imported, by="import")
    assert (stored.version, stored.description) == (2, "fraud")
    assert [term.term for term in stored.terms] == ["洗钱", "跑分"]
    assert json.loads(str(store.history("scams")[-1]["detail"])) == [
        "-刷单", "+跑分 (illegal_activities, unsafe, variant)", "description=fraud",
    ]  # fmt: skip
    assert [blocklist.name for blocklist in store.lists()] == ["scams"]


def test_a_dropped_list_is_gone_but_its_history_stays(audit_engine: Engine) -> None:
    store = BlocklistStore(audit_engine)
    store.add("abuse", [BlocklistTerm("傻逼", ABUSE)], by="ana")
    store.drop("abuse", by="bo")
    assert store.lists() == [] and store.versions() == {}
    assert [row["change"] for row in store.history("abuse")] == ["add", "drop"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s.remove("nope", ["x"], by="a"), "no blocklist is named 'nope'"),
        (lambda s: s.drop("nope", by="a"), "no blocklist is named 'nope'"),
        (lambda s: s.add("abuse", [BlocklistTerm("  ", ABUSE)], by="a"), "blocklist term '  ': 1 to 200"),
        (lambda s: s.add("", [BlocklistTerm("x", ABUSE)], by="a"), "blocklist name '': 1 to 64"),
        (lambda s: s.add("a\nb", [BlocklistTerm("x", ABUSE)], by="a"), "blocklist name 'a\\nb'"),
    ],
)
def test_bad_changes_are_refused_with_the_reason(audit_engine: Engine, change, problem: str) -> None:  # type: ignore[no-untyped-def]
    store = BlocklistStore(audit_engine)
    with pytest.raises(ConfigurationError) as error:
        change(store)
    assert str(error.value).startswith(problem)
    assert store.versions() == {}


def test_removing_a_term_the_list_lacks_changes_nothing(audit_engine: Engine) -> None:
    store = BlocklistStore(audit_engine)
    store.add("abuse", [BlocklistTerm("傻逼", ABUSE)], by="ana")
    with pytest.raises(ConfigurationError, match="blocklist 'abuse' has no term '笨蛋'"):
        store.remove("abuse", ["傻逼", "笨蛋"], by="ana")
    assert store.get("abuse") == Blocklist("abuse", 1, terms=(BlocklistTerm("傻逼", ABUSE),))
