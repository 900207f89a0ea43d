import math

import pytest

from devtools.bench.stats import latency_summary, median_batch_ms, percentile, ratio, steady_rate


def test_nearest_rank_percentiles_of_one_to_hundred() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0) == 1.0


def test_percentile_of_nothing_is_nan_and_out_of_range_is_refused() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_summary_names_every_figure() -> None:
    summary = latency_summary([10.0, 20.0, 30.0, 40.0])
    assert summary == {"n": 4.0, "p50": 20.0, "p95": 40.0, "p99": 40.0, "max": 40.0}


def test_steady_rate_leaves_out_a_slow_start_and_tail() -> None:
    # 1000 items over 1 s in the middle, plus a 10 s lull before the first and after the last
    times = [0.0] * 50 + [10_000.0 + i for i in range(900)] + [30_000.0] * 50
    assert steady_rate(times, trim=0.05) == pytest.approx(899 / 0.899, rel=1e-6)
    assert steady_rate(times, trim=0.0) < 40


def test_steady_rate_without_a_span_is_not_a_rate() -> None:
    assert math.isnan(steady_rate([5.0, 5.0, 5.0]))
    assert math.isnan(steady_rate([1.0]))
    # 48 verdicts released by two batches at one instant, trimmed ends at other instants
    assert math.isnan(steady_rate([1.0] + [7.0] * 46 + [9.0]))


def test_median_batch_counts_each_batch_once() -> None:
    # one big batch of 100 items at 50 ms, two small ones at 10 ms: the median batch is 10 ms
    items = [(("a", 1), 50.0)] * 100 + [(("b", 2), 10.0)] + [(("c", 3), 10.0)]
    assert median_batch_ms(items) == 10.0


def test_ratio_of_nothing_is_nan() -> None:
    assert ratio(10.0, 4.0) == 2.5
    assert math.isnan(ratio(10.0, 0.0))
