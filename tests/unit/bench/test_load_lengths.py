import random
import statistics

from devtools.bench.load import LONG_TAIL_MAX_CHARS, LONG_TAIL_MIN_CHARS, chat_events, long_tail_length, stretch


def test_stretch_repeats_up_to_the_length() -> None:
    assert stretch("你好", 5) == "你好你好你"
    assert stretch("很长的一句话", 3) == "很长的一句话"
    assert stretch("", 10) == ""


def test_long_tail_lengths_are_bounded_and_heavy() -> None:
    rng = random.Random(1)
    lengths = [long_tail_length(rng) for _ in range(5000)]
    assert min(lengths) >= LONG_TAIL_MIN_CHARS and max(lengths) <= LONG_TAIL_MAX_CHARS
    assert statistics.median(lengths) < 2 * LONG_TAIL_MIN_CHARS < max(lengths)


def test_mostly_short_messages_with_a_long_tail() -> None:
    lengths = sorted(len(event.text) for event in chat_events(4000, seed=3))
    assert lengths[len(lengths) // 2] < 60  # short messages dominate
    assert lengths[-1] >= LONG_TAIL_MIN_CHARS  # and some are long
    assert sum(length >= LONG_TAIL_MIN_CHARS for length in lengths) < 0.05 * len(lengths)


def test_same_seed_same_events() -> None:
    assert chat_events(50, seed=9) == chat_events(50, seed=9)
