"""What `make mutation` prints after `mutmut run`: one MUTATION line per mutated module and a report
of every mutant the tests let live, with the written reason where one was given.

    MUTATION module=guardstream.policy killed=74 survived=2 score=0.974

*killed*: a test failed (or hung past mutmut's timeout) with the mutant in place. *survived*: every
test that reaches the function passed, or no test reached it. A mutant listed in
``tests/mutation/equivalent/<module>.yaml`` behaves exactly as the original (the file says why for each);
it counts on neither side and is listed in the report with its reason. The exit status is 1 when a
module scores under ``--floor``, a run did not finish, or an equivalence entry names a mutant that no
longer exists or that a test kills (then it was not equivalent).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files

EQUIVALENT_DIR = Path(__file__).with_name("equivalent")
KILLED = frozenset({"killed", "timeout", "segfault"})
"""A hang past mutmut's timeout, or a crash, is the tests noticing the mutant."""
SURVIVED = frozenset({"survived", "no tests", "suspicious"})


@dataclass
class ModuleResult:
    module: str
    path: Path
    killed: int = 0
    survived: list[tuple[str, str]] = field(default_factory=list)
    """(mutant name, mutmut status)"""
    equivalent: list[str] = field(default_factory=list)
    killed_equivalent: list[str] = field(default_factory=list)
    """Listed as equivalent, yet a test killed it: the entry is wrong."""
    unchecked: list[tuple[str, str]] = field(default_factory=list)

    @property
    def score(self) -> float:
        judged = self.killed + len(self.survived)
        return self.killed / judged if judged else 1.0


def module_name(path: Path) -> str:
    return ".".join(path.with_suffix("").parts)


def load_equivalents(folder: Path = EQUIVALENT_DIR) -> dict[str, str]:
    """Mutant name -> why it behaves as the original, from one YAML mapping per module."""
    equivalents: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict) or not all(isinstance(v, str) and v.strip() for v in raw.values()):
            raise SystemExit(f"{path}: expected a mapping of mutant name to a non-empty reason")
        equivalents.update({str(name): reason.strip() for name, reason in raw.items()})
    return equivalents


def collect(equivalents: dict[str, str]) -> list[ModuleResult]:
    results = []
    for path in sorted(Path(p) for p in walk_mutatable_files()):
        data = SourceFileMutationData(path=path)
        data.load()
        result = ModuleResult(module_name(path), path)
        for name, exit_code in sorted(data.exit_code_by_key.items()):
            status = status_by_exit_code[exit_code]
            if name in equivalents and status in KILLED:
                result.killed_equivalent.append(name)
                result.killed += 1
            elif name in equivalents:
                result.equivalent.append(name)
            elif status in KILLED:
                result.killed += 1
            elif status in SURVIVED:
                result.survived.append((name, status))
            else:  # not checked, skipped, interrupted: the run did not finish
                result.unchecked.append((name, status))
        results.append(result)
    return results


def write_report(results: list[ModuleResult], equivalents: dict[str, str], out: Path) -> None:
    lines = ["# Mutants the tests let live", ""]
    for result in results:
        if not (result.survived or result.equivalent or result.unchecked):
            continue
        lines += [f"## {result.module} (score {result.score:.3f})", ""]
        for name, status in result.survived:
            lines += [f"### {name}: {status}", "", "No reason given: a test should kill it.", ""]
            lines += ["```diff", get_diff_for_mutant(name, path=result.path), "```", ""]
        for name in result.equivalent:
            lines += [f"### {name}: equivalent", "", equivalents[name], ""]
            lines += ["```diff", get_diff_for_mutant(name, path=result.path), "```", ""]
        for name, status in result.unchecked:
            lines += [f"### {name}: {status} (the run did not finish)", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--floor", type=float, default=0.90, help="lowest score a module may have (default 0.90)")
    parser.add_argument(
        "--report", type=Path, default=Path(".run/mutation/survivors.md"), help="where the survivor report goes"
    )
    args = parser.parse_args(argv)

    equivalents = load_equivalents()
    results = collect(equivalents)
    if not results:
        print("no mutation results: run `mutmut run` first", file=sys.stderr)
        return 1
    write_report(results, equivalents, args.report)
    known = {name for result in results for name in (*result.equivalent, *result.killed_equivalent)}
    stale = sorted(set(equivalents) - known)
    for result in results:
        for name, status in result.survived:
            print(f"survived {name} ({status}): no reason given")
        for name in result.equivalent:
            print(f"equivalent {name}: {equivalents[name]}")
    for name in stale:
        print(f"{EQUIVALENT_DIR}/ names {name}, which no longer exists: remove it or update its name")
    wrong = [name for result in results for name in result.killed_equivalent]
    for name in wrong:
        print(f"{EQUIVALENT_DIR}/ calls {name} equivalent, but a test kills it: remove the entry")
    print(f"survivor report: {args.report}")
    for result in results:
        print(
            f"MUTATION module={result.module} killed={result.killed} survived={len(result.survived)} "
            f"score={result.score:.3f}"
        )
    low = [result.module for result in results if result.score < args.floor or result.unchecked]
    return 1 if low or stale or wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
