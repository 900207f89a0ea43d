import pytest

from devtools.bench.direct import SweepPoint, best_point, request_chunks, sweep_grid


def point(batch: int, concurrency: int, rate: float) -> SweepPoint:
    return SweepPoint(batch, concurrency, rate, requests=10, median_request_ms=5.0)


def test_best_point_is_the_fastest() -> None:
    points = [point(8, 1, 100.0), point(64, 4, 900.0), point(32, 2, 850.0)]
    assert best_point(points) == points[1]


def test_ties_go_to_the_smaller_batch_then_less_concurrency() -> None:
    points = [point(64, 2, 500.0), point(16, 4, 500.0), point(16, 2, 500.0)]
    assert best_point(points) == point(16, 2, 500.0)


def test_no_points_is_an_error() -> None:
    with pytest.raises(ValueError):
        best_point([])


def test_grid_leaves_out_batches_above_the_model_limit() -> None:
    assert sweep_grid((8, 64, 128), (2, 1, 2), 64) == [(8, 1), (8, 2), (64, 1), (64, 2)]


def test_grid_falls_back_to_the_model_limit() -> None:
    assert sweep_grid((128,), (1,), 16) == [(16, 1)]


def test_the_pipeline_tries_the_best_direct_point_and_the_largest_batch_with_two_in_flight() -> None:
    from devtools.bench.pipeline import pipeline_shapes

    grid = sweep_grid([4, 16, 64], [1, 2, 4], 64)
    assert pipeline_shapes(point(16, 4, 700.0), grid) == [(16, 4), (64, 2)]
    assert pipeline_shapes(point(64, 1, 700.0), grid) == [(64, 2)]


def test_every_batch_size_cycles_through_the_same_stretch_of_the_load() -> None:
    pairs = [(f"q{i}", "") for i in range(1000)]
    for batch in (4, 16, 64):
        chunks = request_chunks(pairs, batch, items=512)
        assert all(len(chunk) == batch for chunk in chunks)
        assert {pair for chunk in chunks for pair in chunk} >= set(pairs[:512])  # the long tail's items too
    assert len(request_chunks(pairs, 256, items=512)) == 8  # never fewer than 8 requests to cycle through
