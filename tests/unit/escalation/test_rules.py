"""Rules files are validated with messages that name the offending field."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardstream.errors import ConfigurationError
from tests.support.text_locale import c_locale
from tests.unit.escalation.factory import RULES_YAML
from workers.escalation.rules import (
    UNCATEGORIZED,
    default_rules_path,
    load_rules,
    normalize_category,
    parse_duration_ms,
    parse_rules,
)


def test_shipped_default_rules_cover_the_three_rule_types() -> None:
    ruleset = load_rules(default_rules_path())
    assert {rule.type for rule in ruleset.rules} == {"count", "category", "rate"}
    mute = next(rule for rule in ruleset.rules if rule.action.kind == "mute")
    assert mute.threshold == 3 and mute.window.size_ms == 600_000 and mute.action.duration_ms == 3_600_000


def test_durations_accept_units_and_plain_milliseconds() -> None:
    assert parse_duration_ms("250ms") == 250
    assert parse_duration_ms("30s") == 30_000
    assert parse_duration_ms("10m") == 600_000
    assert parse_duration_ms("1h") == 3_600_000
    assert parse_duration_ms("2d") == 172_800_000
    assert parse_duration_ms(1500) == 1500
    for bad in ("10 minutes", "-1s", True, 1.5):
        with pytest.raises(ValueError):
            parse_duration_ms(bad)


def test_categories_accept_slugs_and_chinese_names_and_uncategorized() -> None:
    text = RULES_YAML.replace("categories: [illegal_activities]", "categories: [违法犯罪, uncategorized]")
    rule = parse_rules(text).rule("crime")
    assert rule is not None and rule.categories == ("illegal_activities", UNCATEGORIZED)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("threshold: 3", "threshold: 0"), "threshold"),
        (("    threshold: 3\n", ""), "needs threshold"),
        (("categories: [illegal_activities]", "categories: [not_a_category]"), "unknown harm category"),
        (("min_ratio: 0.5", "min_ratio: 1.5"), "min_ratio"),
        (("step: 5m", "step: 3m"), "divide"),
        (("{type: tumbling, size: 10m}", "{type: tumbling, size: 10m, step: 5m}"), "tumbling"),
        (("scope: user", "scope: planet"), "scope"),
        (("id: crime", "id: repeat-unsafe"), "unique"),
        (("kind: mute", "kind: Mute!"), "kind"),
        (("grace: 1m", "grace: soon"), "duration"),
        (("    min_events: 3\n", "    min_events: 3\n    threshold: 2\n"), "no meaning"),
    ],
)
def test_invalid_rules_are_refused_with_the_field_named(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in RULES_YAML
    with pytest.raises(ConfigurationError) as info:
        parse_rules(RULES_YAML.replace(old, new, 1), "rules.yaml")
    assert message in str(info.value)
    assert "rules.yaml" in str(info.value)


def test_unreadable_or_non_mapping_files_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    with pytest.raises(ConfigurationError, match="mapping"):
        parse_rules("- just a list")
    with pytest.raises(ConfigurationError, match="YAML"):
        parse_rules("rules: [")


def test_rule_matching_by_label_and_category() -> None:
    ruleset = parse_rules(RULES_YAML)
    crime, repeat = ruleset.rule("crime"), ruleset.rule("repeat-unsafe")
    assert crime is not None and repeat is not None
    assert crime.matches("unsafe", {"illegal_activities": 0.8})
    assert not crime.matches("review", {"illegal_activities": 0.8})
    assert not crime.matches("unsafe", {"hate_abuse": 0.8})
    assert not crime.matches("unsafe", {}), "a verdict naming no category is not in a named category"
    assert repeat.matches("unsafe", {}) and repeat.matches("unsafe", {"hate_abuse": 0.3})
    uncategorized = parse_rules(RULES_YAML.replace("[illegal_activities]", "[uncategorized]")).rule("crime")
    assert uncategorized is not None and uncategorized.matches("unsafe", {})
    assert not uncategorized.matches("unsafe", {"hate_abuse": 0.9})


def test_a_rule_naming_policies_counts_only_their_verdicts() -> None:
    scoped = parse_rules(
        RULES_YAML.replace(
            "categories: [illegal_activities]", "categories: [illegal_activities]\n    policies: [kids-rooms]"
        )
    )
    crime = scoped.rule("crime")
    assert crime is not None and crime.policies == ("kids-rooms",)
    assert crime.matches("unsafe", {"illegal_activities": 0.8}, "kids-rooms")
    assert not crime.matches("unsafe", {"illegal_activities": 0.8}, "global")
    assert not crime.matches("unsafe", {"illegal_activities": 0.8})  # a verdict without a policy id: global


def test_a_boolean_is_refused_as_a_duration_with_the_value_named() -> None:
    with pytest.raises(ValueError, match=r"^not a duration: True$"):
        parse_duration_ms(True)


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("违法犯罪", "illegal_activities"),
        (" Hate_Abuse ", "hate_abuse"),
        (" UNCATEGORIZED ", UNCATEGORIZED),
        (" Not A Category ", "not a category"),
    ],
)
def test_categories_are_normalized_to_slugs_and_other_names_to_lower_case(name: str, normalized: str) -> None:
    assert normalize_category(name) == normalized


def test_a_category_score_equal_to_the_minimum_counts() -> None:
    crime = parse_rules(RULES_YAML).rule("crime")  # min_category_score: 0.5
    assert crime is not None
    assert crime.matches("unsafe", {"illegal_activities": 0.5})
    assert not crime.matches("unsafe", {"illegal_activities": 0.49})


def test_every_problem_is_listed_on_its_own_line_with_the_path_to_its_field() -> None:
    text = RULES_YAML.replace("threshold: 3", "threshold: 0").replace("scope: user", "scope: planet", 1)
    with pytest.raises(ConfigurationError) as info:
        parse_rules(text)
    assert str(info.value).splitlines() == [
        "<rules>: invalid rules:",
        "  rules.0.scope: Input should be 'user' or 'conversation'",
        "  rules.0.threshold: Input should be greater than or equal to 1",
    ]


def test_a_problem_with_the_whole_file_is_listed_at_its_top() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_rules(RULES_YAML.replace("id: crime", "id: repeat-unsafe"))
    assert str(info.value).splitlines()[1] == "  (top): Value error, rule ids must be unique: repeat-unsafe"


def test_errors_in_a_rules_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML.replace("kind: mute", "kind: Mute!"), encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        load_rules(path)
    assert str(info.value).startswith(f"{path}: invalid rules:\n  rules.0.action.kind: ")


def test_rules_files_are_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML.replace("categories: [illegal_activities]", "categories: [违法犯罪]"), encoding="utf-8")
    with c_locale():
        crime = load_rules(path).rule("crime")
    assert crime is not None and crime.categories == ("illegal_activities",)
