import math

import pytest

from devtools.bench.figures import Figure, parse_line


def test_line_has_the_exact_format() -> None:
    line = Figure("efficiency", 0.93456, "ratio", 0.9).line()
    assert line == "BENCH name=efficiency value=0.935 unit=ratio target=0.900 pass=true"


def test_at_most_figures_pass_below_their_target() -> None:
    assert Figure("p99_ms", 120.0, "ms", 150.0, goal="at_most").passed is True
    assert Figure("p99_ms", 151.0, "ms", 150.0, goal="at_most").line().endswith("pass=false")


def test_without_target_pass_is_na() -> None:
    line = Figure("p99_bound_ms", 150.0, "ms").line()
    assert line == "BENCH name=p99_bound_ms value=150.000 unit=ms target=na pass=na"


def test_unmeasured_value_fails_its_target() -> None:
    figure = Figure("overhead_eps", math.nan, "events/s", 15000.0)
    assert figure.passed is False
    assert figure.line() == "BENCH name=overhead_eps value=nan unit=events/s target=15000.000 pass=false"
    assert figure.as_dict()["value"] is None


def test_every_line_parses_back() -> None:
    for figure in (Figure("vs_naive", 12.5, "ratio", 10.0), Figure("naive_eps", 3.0, "events/s")):
        fields = parse_line(figure.line())
        assert fields["name"] == figure.name and float(fields["value"]) == pytest.approx(figure.value)
    with pytest.raises(ValueError):
        parse_line("BENCH name=x value=1 unit=ms target=na pass=na")


def test_names_and_units_are_single_words() -> None:
    with pytest.raises(ValueError):
        Figure("Bad Name", 1.0, "ms")
    with pytest.raises(ValueError):
        Figure("ok", 1.0, "two words")
