"""What a policy makes of blocklist hits: a deciding list is the verdict, a raising list a floor."""

from __future__ import annotations

import pytest

from guardstream.blocklist.model import BlocklistTerm, Hit, ListEffect, MatchMode, TermAction
from guardstream.blocklist.screening import judge, screen
from guardstream.guard.categories import HarmCategory
from guardstream.policy import Policy
from guardstream.records import BlocklistHit, Decider, VerdictLabel

POLICY = Policy("v1", 0.5, 0.3)


def hit(
    list_name: str, term: str, effect: ListEffect = ListEffect.DECIDE, action: TermAction = TermAction.UNSAFE,
    raise_to: float = 0.5, category: HarmCategory = HarmCategory.HATE_ABUSE,
) -> Hit:  # fmt: skip
    listed = BlocklistTerm(term, category, action, MatchMode.VARIANT)
    return Hit(list_name, 4, effect, raise_to, listed, 0, len(term), "pinyin")


def test_an_unsafe_hit_of_a_deciding_list_is_the_verdict_and_the_model_is_not_needed() -> None:
    screening = screen([hit("a", "笨蛋", action=TermAction.REVIEW), hit("b", "傻逼")], POLICY)
    assert not screening.needs_model
    judged = judge(screening, None, None)
    assert (judged.label, judged.p_unsafe, judged.category, judged.decided_by) == (
        VerdictLabel.UNSAFE, 1.0, ("hate_abuse", 1.0), Decider.BLOCKLIST,
    )  # fmt: skip
    assert judged.deciding is not None and judged.deciding.term.term == "傻逼"
    assert judged.hits == (
        BlocklistHit(list_name="a", list_version=4, term="笨蛋", category="hate_abuse", variant="pinyin"),
        BlocklistHit(list_name="b", list_version=4, term="傻逼", category="hate_abuse", variant="pinyin"),
    )


def test_a_review_hit_decides_review_at_the_policys_review_threshold() -> None:
    judged = judge(screen([hit("a", "笨蛋", action=TermAction.REVIEW)], POLICY), None, None)
    assert (judged.label, judged.p_unsafe) == (VerdictLabel.REVIEW, 0.3)


@pytest.mark.parametrize(
    ("p_model", "label", "p_unsafe", "category"),
    [
        (0.1, VerdictLabel.UNSAFE, 0.8, ("illegal_activities", 0.8)),  # raised to the list's floor
        (0.9, VerdictLabel.UNSAFE, 0.9, ("hate_abuse", 0.9)),  # above the floor: the model's own
    ],
)
def test_a_raising_list_lifts_the_model_score_to_its_floor(
    p_model: float, label: VerdictLabel, p_unsafe: float, category: tuple[str, float]
) -> None:
    raising = hit("r", "刷单", ListEffect.RAISE, raise_to=0.8, category=HarmCategory.ILLEGAL_ACTIVITIES)
    screening = screen([raising, hit("r2", "跑分", ListEffect.RAISE, raise_to=0.6)], POLICY)
    assert screening.needs_model
    judged = judge(screening, p_model, ("hate_abuse", p_model))
    assert (judged.label, judged.p_unsafe, judged.category, judged.decided_by) == (
        label,
        p_unsafe,
        category,
        Decider.MODEL,
    )
    assert len(judged.hits) == 2


def test_only_the_lists_a_policy_applies_count() -> None:
    scoped = Policy("v1", 0.5, 0.3, blocklists=frozenset({"b"}))
    screening = screen([hit("a", "傻逼"), hit("b", "笨蛋", ListEffect.RAISE, raise_to=0.4)], scoped)
    assert [h.list_name for h in screening.hits] == ["b"]
    judged = judge(screening, 0.2, None)
    assert (judged.label, judged.p_unsafe, judged.decided_by) == (VerdictLabel.REVIEW, 0.4, Decider.MODEL)


def test_without_a_deciding_hit_the_model_score_is_needed() -> None:
    with pytest.raises(ValueError, match="the model's score is needed"):
        judge(screen([], POLICY), None, None)
    judged = judge(screen([], POLICY), 0.42, ("privacy_property", 0.42))
    assert (judged.label, judged.hits, judged.decided_by) == (VerdictLabel.REVIEW, (), Decider.MODEL)
