"""Thresholds map scores to labels; a policy file is validated at start and names what is wrong."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from guardstream.errors import ConfigurationError
from guardstream.guard.categories import HarmCategory
from guardstream.paths import repository_root
from guardstream.policy import Policy, Thresholds, load_policy_file, write_policy_file
from guardstream.records import VerdictLabel
from guardstream.settings import PolicySettings, load_settings
from tests.support.text_locale import c_locale


def test_global_thresholds_and_the_review_band() -> None:
    policy = Policy("p", unsafe_threshold=0.5, review_threshold=0.3)
    assert [policy.label(p) for p in (0.0, 0.29, 0.3, 0.49, 0.5, 1.0)] == [
        VerdictLabel.SAFE,
        VerdictLabel.SAFE,
        VerdictLabel.REVIEW,
        VerdictLabel.REVIEW,
        VerdictLabel.UNSAFE,
        VerdictLabel.UNSAFE,
    ]


def test_by_default_a_worker_uses_the_shipped_policy_file_with_its_per_category_thresholds() -> None:
    policy = Policy.from_settings(load_settings().policy)
    assert policy == load_policy_file(repository_root() / "infra" / "policy" / "default.yaml")
    assert policy.version.startswith("default-")
    assert policy.label(0.45) is VerdictLabel.REVIEW
    assert policy.label(0.45, HarmCategory.PRIVACY_PROPERTY) is VerdictLabel.UNSAFE
    assert policy.label(0.45, HarmCategory.HATE_ABUSE) is VerdictLabel.REVIEW


def test_settings_name_another_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: v7\nunsafe_threshold: 0.9\nreview_threshold: 0.1\n", encoding="utf-8")
    policy = Policy.from_settings(PolicySettings(file=path))
    assert (policy.version, policy.label(0.5)) == ("v7", VerdictLabel.REVIEW)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: v1\nunsafe_threshold: 0.3\nreview_threshold: 0.6\n", "review_threshold"),
        ("version: v1\nunsafe_threshold: 1.5\nreview_threshold: 0.1\n", "unsafe_threshold"),
        ("unsafe_threshold: 0.5\nreview_threshold: 0.1\n", "version"),
        (
            "version: v1\nunsafe_threshold: 0.5\nreview_threshold: 0.1\ncategories:\n  nonsense: {unsafe_threshold: 0.5, review_threshold: 0.1}\n",
            "categories.nonsense",
        ),
        ("version: v1\nunsafe_threshold: 0.5\nreview_threshold: 0.1\nthreshold: 3\n", "threshold"),
        (f"version: {'v' * 65}\nunsafe_threshold: 0.5\nreview_threshold: 0.1\n", "version"),
        ("version: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_policy_files_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message) as error:
        load_policy_file(path)
    assert str(path) in str(error.value)


def test_missing_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_policy_file(tmp_path / "absent.yaml")


def test_the_escalation_band_is_global_unless_a_category_sets_its_own(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: v2\nunsafe_threshold: 0.5\nreview_threshold: 0.4\nescalate_band: [0.3, 0.7]\n"
        "categories:\n  privacy_property: {unsafe_threshold: 0.4, review_threshold: 0.2, escalate_band: [0.1, 0.2]}\n",
        encoding="utf-8",
    )
    policy = load_policy_file(path)
    assert [policy.escalates(p) for p in (0.29, 0.3, 0.69, 0.7)] == [False, True, True, False]
    assert policy.escalates(0.5, HarmCategory.HATE_ABUSE)
    assert not policy.escalates(0.5, HarmCategory.PRIVACY_PROPERTY)
    assert policy.escalates(0.15, HarmCategory.PRIVACY_PROPERTY)


def banded_file(tmp_path: Path) -> Path:
    path = tmp_path / "banded.yaml"
    path.write_text(
        "version: v3\nunsafe_threshold: 0.5\nreview_threshold: 0.4\nescalate_band: [0.3, 0.7]\n"
        "categories:\n  hate_abuse: {unsafe_threshold: 0.45, review_threshold: 0.2, escalate_band: [0.1, 0.9]}\n"
        "  privacy_property: {unsafe_threshold: 0.4, review_threshold: 0.25}\n",
        encoding="utf-8",
    )
    return path


def banded_policy(tmp_path: Path) -> Policy:
    return load_policy_file(banded_file(tmp_path))


def test_a_written_policy_file_reads_back_equal(tmp_path: Path) -> None:
    policy = banded_policy(tmp_path)
    assert load_policy_file(write_policy_file(policy, tmp_path / "out" / "policy.yaml")) == policy
    shipped = Policy.from_settings(PolicySettings())
    assert load_policy_file(write_policy_file(shipped, tmp_path / "shipped.yaml")) == shipped


def test_without_escalation_keeps_the_thresholds_and_escalates_nothing(tmp_path: Path) -> None:
    policy = banded_policy(tmp_path)
    quiet = policy.without_escalation()
    categories = [None, *HarmCategory]
    assert not any(quiet.escalates(p / 100, category) for p in range(101) for category in categories)
    assert all(quiet.label(p / 100, c) == policy.label(p / 100, c) for p in range(101) for c in categories)
    assert quiet.version == policy.version


def test_no_band_escalates_nothing() -> None:
    policy = Policy.from_settings(PolicySettings())
    assert not any(policy.escalates(p / 100) for p in range(101))


@pytest.mark.parametrize("band", ["[0.7, 0.3]", "[0.2, 1.5]", "[0.4, 0.4]"])
def test_a_band_that_is_not_an_interval_is_refused(tmp_path: Path, band: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        f"version: v1\nunsafe_threshold: 0.5\nreview_threshold: 0.1\nescalate_band: {band}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigurationError, match="escalate_band"):
        load_policy_file(path)


def test_a_category_with_its_own_thresholds_uses_both_of_them(tmp_path: Path) -> None:
    policy = banded_policy(tmp_path)  # global 0.5 / 0.4; hate_abuse 0.45 / 0.2
    safe, review, unsafe = VerdictLabel.SAFE, VerdictLabel.REVIEW, VerdictLabel.UNSAFE
    probes = (0.19, 0.2, 0.39, 0.4, 0.44, 0.45, 0.49, 0.5)
    assert [policy.label(p, HarmCategory.HATE_ABUSE) for p in probes] == [
        safe, review, review, review, review, unsafe, unsafe, unsafe,
    ]  # fmt: skip
    assert [policy.label(p, HarmCategory.ETHICS_MORALITY) for p in probes] == [
        safe, safe, safe, review, review, review, review, unsafe,
    ]  # fmt: skip


def test_an_escalate_band_from_settings_replaces_the_policy_files_global_band(tmp_path: Path) -> None:
    path = banded_file(tmp_path)
    policy = Policy.from_settings(PolicySettings(file=path, escalate_band=(0.2, 0.6)))
    from_file = load_policy_file(path)
    assert policy.escalate_band == (0.2, 0.6)
    assert (policy.version, policy.by_category) == (from_file.version, from_file.by_category)
    assert policy.escalates(0.5, HarmCategory.HATE_ABUSE), "a category's own band still wins"


def test_without_a_band_in_settings_the_policy_files_band_stays(tmp_path: Path) -> None:
    path = banded_file(tmp_path)
    policy = Policy.from_settings(PolicySettings(file=path))
    assert policy == load_policy_file(path)
    assert policy.escalate_band == (0.3, 0.7)


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("", "unsafe_threshold: Field required; review_threshold: Field required; version: Field required"),
        ("version: v1\nunsafe_threshold: 0.5\n", "review_threshold: Field required"),
        ("- 0.5\n", "(top): Input should be a valid dictionary"),
        (
            "version: v1\nunsafe_threshold: 0.5\nreview_threshold: 0.1\ncategories:\n  hate_abuse: {unsafe_threshold: 2}\n",
            "categories.hate_abuse.unsafe_threshold: Input should be less than or equal to 1; "
            "categories.hate_abuse.review_threshold: Field required",
        ),
    ],
)
def test_policy_file_errors_list_every_problem_with_where_it_is(tmp_path: Path, text: str, problems: str) -> None:
    """An empty file is a mapping with nothing in it; a file that is no mapping is wrong at its top."""
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as error:
        load_policy_file(path)
    assert str(error.value).startswith(f"policy file {path}: {problems}")


def test_a_written_policy_file_is_plain_yaml_without_unset_options(tmp_path: Path) -> None:
    hate_abuse = Thresholds(unsafe_threshold=0.45, review_threshold=0.2)
    policy = Policy("策略-1", 0.5, 0.3, {HarmCategory.HATE_ABUSE: hate_abuse})
    path = write_policy_file(policy, tmp_path / "new" / "folders" / "policy.yaml")
    assert path.read_bytes().decode("utf-8") == (
        "unsafe_threshold: 0.5\nreview_threshold: 0.3\nversion: 策略-1\n"
        "categories:\n  hate_abuse:\n    unsafe_threshold: 0.45\n    review_threshold: 0.2\n"
    )


def test_policy_files_are_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    policy = replace(banded_policy(tmp_path), version="策略-2")
    with c_locale():
        path = write_policy_file(policy, tmp_path / "policy.yaml")
        assert load_policy_file(path) == policy
    assert "策略-2" in path.read_bytes().decode("utf-8")


SCOPED = """\
version: v1
unsafe_threshold: 0.5
review_threshold: 0.35
blocklists: [abuse, scams]
categories:
  hate_abuse: {unsafe_threshold: 0.45, review_threshold: 0.3}
policies:
  - id: acme
    when: {tenant: acme}
    unsafe_threshold: 0.6
    blocklists: [abuse]
  - id: kids
    when: {channel: kids}
    version: kids-7
    unsafe_threshold: 0.3
    review_threshold: 0.1
  - id: acme-kids
    when: {tenant: acme, channel: kids}
    escalate_band: [0.2, 0.4]
"""


def test_an_event_is_judged_by_the_most_specific_scope_its_metadata_matches(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(SCOPED, encoding="utf-8")
    policy = load_policy_file(path)
    chosen = {
        name: policy.select(metadata)
        for name, metadata in {
            "none": {},
            "other tenant": {"tenant": "globex", "channel": "lobby"},
            "acme": {"tenant": "acme", "channel": "lobby"},
            "kids": {"tenant": "globex", "channel": "kids"},
            "acme kids": {"tenant": "acme", "channel": "kids"},
        }.items()
    }
    assert {name: (p.id, p.version) for name, p in chosen.items()} == {
        "none": ("global", "v1"),
        "other tenant": ("global", "v1"),
        "acme": ("acme", "v1"),
        "kids": ("kids", "kids-7"),
        "acme kids": ("acme-kids", "kids-7"),
    }
    assert chosen["acme"].label(0.55) is VerdictLabel.REVIEW  # the tenant's threshold: 0.6
    assert chosen["none"].label(0.55) is VerdictLabel.UNSAFE
    assert chosen["kids"].label(0.35) is VerdictLabel.UNSAFE
    # tenant and channel: the channel's thresholds, then the tenant's (0.6 over 0.3), then its own band
    acme_kids = chosen["acme kids"]
    assert (acme_kids.unsafe_threshold, acme_kids.review_threshold, acme_kids.escalate_band) == (0.6, 0.1, (0.2, 0.4))
    assert acme_kids.escalates(0.3) and not chosen["acme"].escalates(0.3)
    assert acme_kids.blocklists == frozenset({"abuse"}) and chosen["kids"].blocklists == frozenset({"abuse", "scams"})
    assert acme_kids.label(0.5, HarmCategory.HATE_ABUSE) is VerdictLabel.UNSAFE  # categories are inherited


def test_scoped_policies_survive_writing_and_reading(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(SCOPED, encoding="utf-8")
    policy = load_policy_file(path)
    assert load_policy_file(write_policy_file(policy, tmp_path / "again.yaml")) == policy
    assert (
        load_policy_file(write_policy_file(policy.without_escalation(), tmp_path / "flat.yaml"))
        .select({"tenant": "acme", "channel": "kids"})
        .escalate_band
        is None
    )


@pytest.mark.parametrize(
    ("policies", "problem"),
    [
        ("  - {id: a, when: {}}", "policies.0.when: Value error, a scope names a tenant, a channel or both"),
        ("  - {id: a, when: {tenant: t}}\n  - {id: a, when: {tenant: u}}", "Value error, policy id 'a' is used twice"),
        ("  - {id: a, when: {tenant: t}}\n  - {id: b, when: {tenant: t}}", "Value error, two policies have the same"),
        ("  - {id: a, when: {tenant: t}, review_threshold: 0.9}", "policy 'a': Value error, review_threshold must not"),
        ("  - {id: a, when: {tenant: t}, colour: red}", "policies.0.colour: Extra inputs are not permitted"),
    ],
)
def test_scoped_policy_errors_name_the_policy(tmp_path: Path, policies: str, problem: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(f"version: v\nunsafe_threshold: 0.5\nreview_threshold: 0.3\npolicies:\n{policies}\n", "utf-8")
    with pytest.raises(ConfigurationError) as error:
        load_policy_file(path)
    assert problem in str(error.value)


def test_a_policy_file_sets_streaming_rules_and_a_scope_replaces_them(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        'version: "s1"\nunsafe_threshold: 0.5\nreview_threshold: 0.3\n'
        "streaming: {model: generative, stop_threshold: 0.9, categories: {hate_abuse: {debounce_chunks: 1}}}\n"
        "policies:\n  - {id: kids, when: {channel: kids}, streaming: {stop_threshold: 0.6}}\n",
        encoding="utf-8",
    )
    policy = load_policy_file(path)
    assert policy.streaming.model.value == "generative" and policy.streaming.stop(None) == 0.9
    assert policy.streaming.debounce(HarmCategory.HATE_ABUSE) == 1 and policy.streaming.debounce(None) == 2
    assert policy.select({"channel": "kids"}).streaming.stop(None) == 0.6
    assert load_policy_file(write_policy_file(policy, tmp_path / "again.yaml")) == policy
    path.write_text('version: "s2"\nunsafe_threshold: 0.5\nreview_threshold: 0.3\nstreaming: {debounce_chunks: 0}\n')
    with pytest.raises(ConfigurationError, match=r"streaming\.debounce_chunks"):
        load_policy_file(path)
