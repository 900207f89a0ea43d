"""The synthetic generator: seeded, deduplicated, covering the seven scenarios, held-out frames apart."""

from __future__ import annotations

from collections import Counter

from guardstream.guard.categories import HarmCategory
from training.data.dedup import jaccard, normalise, shingles
from training.data.records import FIELDS, SAFE_LABEL, UNSAFE_LABEL
from training.data.synthetic import templates
from training.data.synthetic.adversarial import homophone, mixed_script, obfuscate, pinyin
from training.data.synthetic.generator import SyntheticConfig, generate


def test_same_seed_same_records_other_seed_other_records() -> None:
    first = generate(SyntheticConfig(count=300, seed=3))
    assert first == generate(SyntheticConfig(count=300, seed=3))
    assert first != generate(SyntheticConfig(count=300, seed=4))


def test_records_are_libra_test_items_covering_all_scenarios_and_both_labels() -> None:
    records = generate(SyntheticConfig(count=1500, seed=0))
    assert len(records) == 1500
    assert set(records[0].to_dict()) == set(FIELDS)
    labels = Counter(r.label for r in records)
    assert set(labels) == {SAFE_LABEL, UNSAFE_LABEL}
    assert 0.35 < labels[UNSAFE_LABEL] / len(records) < 0.65
    named = {r.category_name for r in records if r.category_name}
    assert named == {c.chinese_name for c in HarmCategory}
    assert all(r.sub_category_name for r in records)
    assert any(r.response == "" for r in records), "user messages judged alone are covered"
    refusals = [r for r in records if r.label == SAFE_LABEL and r.category_name and "拒绝" in r.analyze]
    hard_negatives = [r for r in records if r.label == SAFE_LABEL and "防范" in r.analyze]
    assert refusals and hard_negatives


def test_no_exact_or_near_duplicates_and_unique_ids() -> None:
    records = generate(SyntheticConfig(count=800, seed=5))
    keys = [normalise(r.question + "\n" + r.response) for r in records]
    assert len(set(keys)) == len(keys)
    assert len({r.id for r in records}) == len(records)
    grams = [shingles(r.question + "\n" + r.response) for r in records[:300]]
    worst = max(jaccard(grams[i], grams[j]) for i in range(len(grams)) for j in range(i))
    assert worst < 0.9


def test_heldout_set_uses_only_frames_never_seen_in_training() -> None:
    heldout = generate(SyntheticConfig(count=400, seed=77, frames="heldout"))
    train_only = [f for f in templates.QUESTION.train]
    heldout_frames = [f.split("{ask}") for f in templates.QUESTION.heldout]
    framed = [r for r in heldout if r.category_name and r.analyze.startswith(("问题本身", "问题是正当"))]
    assert framed
    for record in framed:
        assert any(all(part in record.question for part in parts if part) for parts in heldout_frames), record.question
    assert not set(templates.QUESTION.heldout) & set(train_only)
    assert not set(templates.COMPLY.heldout) & set(templates.COMPLY.train)
    assert not set(templates.REFUSE.heldout) & set(templates.REFUSE.train)


def test_adversarial_rewrites_change_the_surface() -> None:
    import random

    rng = random.Random(0)
    assert obfuscate("制作炸药", rng) in {s.join("制作炸药") for s in "* -/_·"}
    assert homophone("赌博诈骗", random.Random(1)) != "赌博诈骗"
    assert any(ch.isascii() and ch.isalpha() for ch in pinyin("制作炸药", random.Random(2)))
    assert "bomb" in mixed_script("制作炸药", random.Random(3))
    rewritten = generate(SyntheticConfig(count=600, seed=9, rewrite_probability=1.0))
    assert any("*" in r.question or "·" in r.question for r in rewritten)
    assert any(any(w in r.question for w in ("bomb", "scam", "password", "drugs", "website")) for r in rewritten)
