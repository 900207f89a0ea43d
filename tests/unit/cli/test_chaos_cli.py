"""`guardstream chaos run` takes its scenarios as --scenarios a,b (or repeated), --scenario as before."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from devtools.chaos.options import SCENARIOS, chosen_scenarios
from workers.cli.main import app


def test_an_unknown_name_in_a_comma_separated_list_is_refused_before_anything_runs() -> None:
    result = CliRunner().invoke(app, ["chaos", "run", "--scenarios", "duplicates,nope", "--scenario", "kill9"])
    assert result.exit_code == 2
    assert "nope" in result.output and "duplicates" in result.output


def test_scenarios_are_named_comma_separated_or_repeated_and_unknown_ones_are_refused() -> None:
    assert chosen_scenarios(["duplicates"]) == ["duplicates"]
    assert chosen_scenarios(["duplicates,kill9", "poison", "kill9"]) == ["duplicates", "kill9", "poison"]
    assert chosen_scenarios(None) == list(SCENARIOS) and "duplicates" in SCENARIOS
    with pytest.raises(ValueError, match="nope"):
        chosen_scenarios(["kill9,nope"])
