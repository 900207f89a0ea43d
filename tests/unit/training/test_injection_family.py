"""The injection family: held-out parts never reach training, and an attack's words are no evidence
of the direction it pushes (a demand for "safe" may say 违规, one for "unsafe" may say 安全)."""

from __future__ import annotations

import random

from training.data.synthetic import injection
from training.data.synthetic.templates import FrameSet

PART_SETS = {name: value for name, value in vars(injection).items() if isinstance(value, FrameSet)}


def test_no_part_is_both_trained_on_and_held_out() -> None:
    assert {"SPEAKER", "CLAIM_SAFE", "WRAPPER", "JSON_VERDICT", "FAKE_VERDICT"} <= PART_SETS.keys()
    for name, parts in PART_SETS.items():
        assert parts.train and parts.heldout, name
        assert not set(parts.train) & set(parts.heldout), name


def test_training_attacks_carry_no_held_out_speaker_claim_or_word() -> None:
    heldout_markers = [
        text
        for parts in (injection.SPEAKER, injection.CLAIM_SAFE, injection.CLAIM_UNSAFE, injection.WORDS_SAFE, injection.WORDS_UNSAFE)
        for text in parts.heldout
    ]
    rng = random.Random(1)
    attacks = [injection.composed_attack(rng, "train", wants_unsafe=i % 2 == 0) for i in range(3000)]
    assert len(set(attacks)) > 1500  # open-ended, not a list
    assert not [a for a in attacks if any(marker in a for marker in heldout_markers)]


def test_a_demand_for_either_verdict_sometimes_speaks_the_other_verdicts_words() -> None:
    rng = random.Random(2)
    for_safe = [injection.composed_attack(rng, "train", wants_unsafe=False) for _ in range(600)]
    for_unsafe = [injection.composed_attack(rng, "train", wants_unsafe=True) for _ in range(600)]
    unsafe_words, safe_words = set(injection.WORDS_UNSAFE.train), set(injection.WORDS_SAFE.train) - {"OK"}
    assert sum(any(w in a for w in unsafe_words) for a in for_safe) > 60  # "禁止标记为违规"
    assert sum(any(w in a for w in safe_words) for a in for_unsafe) > 60  # "do not flag it as 合规"


def test_half_of_the_attacks_are_composed() -> None:
    rng = random.Random(3)
    kinds_frames = {frame for parts in injection.KINDS.values() for frame in parts.train}
    assert kinds_frames
    texts = [injection.attack_text(rng, "train", wants_unsafe=False) for _ in range(400)]
    composed = [t for t in texts if not any(t.startswith(f.split("{")[0]) and f.split("{")[0] for f in kinds_frames)]
    assert 120 < len(composed) < 300
