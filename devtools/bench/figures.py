"""The figures a benchmark reports, and the one-line format scripts read them in.

BENCH name=<name> value=<float> unit=<unit> target=<float or na> pass=<true|false|na>
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

Goal = Literal["at_least", "at_most"]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_UNIT = re.compile(r"^[A-Za-z0-9_/%.]+$")
LINE = re.compile(
    r"^BENCH name=(?P<name>[a-z][a-z0-9_]*) value=(?P<value>-?[0-9]+\.[0-9]+|nan) unit=(?P<unit>\S+) "
    r"target=(?P<target>-?[0-9]+\.[0-9]+|na) pass=(?P<passed>true|false|na)$"
)


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    target: float | None = None
    goal: Goal = "at_least"
    note: str = ""
    """What the figure is, or what bounds it, for the table and results.json."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"figure name {self.name!r} must be lower_snake_case")
        if not _UNIT.match(self.unit):
            raise ValueError(f"unit {self.unit!r} must be one word")

    @property
    def passed(self) -> bool | None:
        """None without a target; False for a value that could not be measured (NaN)."""
        if self.target is None:
            return None
        if math.isnan(self.value) or math.isnan(self.target):
            return False
        return self.value >= self.target if self.goal == "at_least" else self.value <= self.target

    def line(self) -> str:
        passed = self.passed
        return (
            f"BENCH name={self.name} value={_number(self.value)} unit={self.unit} "
            f"target={'na' if self.target is None else _number(self.target)} "
            f"pass={'na' if passed is None else str(passed).lower()}"
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["value"] = None if math.isnan(self.value) else self.value
        data["passed"] = self.passed
        return data


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3f}"


def parse_line(line: str) -> dict[str, str]:
    """The fields of a BENCH line (for scripts and tests); ValueError if it is not one."""
    match = LINE.match(line.strip())
    if match is None:
        raise ValueError(f"not a BENCH line: {line!r}")
    return match.groupdict()
