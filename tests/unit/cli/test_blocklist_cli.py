"""`guardstream policy blocklist add|remove|list|import` over a real SQLite audit store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardstream.blocklist.files import shipped_lists
from workers.cli.main import app


@pytest.fixture(autouse=True)
def audit_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("GUARDSTREAM_AUDIT__URL", url)
    return url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["policy", "blocklist", *args])
    return result.exit_code, result.output


def listed(name: str) -> dict[str, object]:
    code, output = run("list", name, "--json", "--history")
    assert code == 0, output
    document: dict[str, object] = json.loads(output)
    return document


def test_add_remove_and_list_keep_a_versioned_history() -> None:
    assert run("add", "abuse", "傻逼", "脑残", "-c", "辱骂仇恨", "--by", "ana") == (0, "abuse v1: 2 terms\n")
    assert (
        run("add", "abuse", "废物", "-c", "hate_abuse", "--action", "review", "--match", "exact", "--by", "bo")[0] == 0
    )
    assert run("remove", "abuse", "脑残", "--by", "ana") == (0, "abuse v3: 2 terms\n")
    document = listed("abuse")
    assert document["version"] == 3
    assert document["terms"] == [
        {"term": "傻逼", "category": "hate_abuse", "action": "unsafe", "match": "variant"},
        {"term": "废物", "category": "hate_abuse", "action": "review", "match": "exact"},
    ]
    assert [(c["version"], c["change"], c["changed_by"]) for c in document["history"]] == [  # type: ignore[attr-defined]
        (1, "add", "ana"), (2, "add", "bo"), (3, "remove", "ana"),
    ]  # fmt: skip
    code, output = run("list")
    assert code == 0 and "abuse" in output and "1 blocklists" in output


def test_import_makes_a_list_what_the_file_holds(tmp_path: Path) -> None:
    run("add", "scams", "刷单", "-c", "illegal_activities")
    listing = tmp_path / "scams.yaml"
    listing.write_text(
        "name: scams\ndescription: fraud\neffect: raise\nraise_to: 0.7\nterms:\n"
        "  - {term: 跑分, category: illegal_activities, action: unsafe, match: variant}\n",
        encoding="utf-8",
    )
    plain = tmp_path / "Drugs.txt"
    plain.write_text("# one term a line\n冰毒\n\n大麻\n", encoding="utf-8")
    code, output = run("import", str(listing), str(plain), "-c", "illegal_activities")
    assert code == 0, output
    assert output == "scams v2: 1 terms\ndrugs v1: 2 terms\n"
    scams = listed("scams")
    assert (scams["effect"], scams["raise_to"], [t["term"] for t in scams["terms"]]) == ("raise", 0.7, ["跑分"])  # type: ignore[attr-defined]


def test_the_shipped_lists_import_with_one_command() -> None:
    code, output = run("import", "--shipped")
    assert code == 0, output
    shipped = shipped_lists()
    assert output.splitlines() == [f"{b.name} v1: {len(b.terms)} terms" for b in shipped]
    code, output = run("list", "--json")
    assert [row["name"] for row in json.loads(output)] == sorted(b.name for b in shipped)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("add", "abuse", "x", "-c", "nonsense"), 2, "unknown harm category 'nonsense'"),
        (("remove", "nowhere", "x"), 2, "no blocklist is named 'nowhere'"),
        (("remove", "abuse"), 2, "name the terms to remove, or pass --whole-list"),
        (("import",), 2, "name blocklist files, or pass --shipped"),
        (("list", "nowhere"), 1, "no blocklist is named 'nowhere'"),
    ],
)
def test_mistakes_are_refused_with_the_reason(args: tuple[str, ...], code: int, message: str) -> None:
    result = CliRunner().invoke(app, ["policy", "blocklist", *args])
    assert result.exit_code == code
    assert message in " ".join(result.output.split())


def test_a_text_file_needs_a_category(tmp_path: Path) -> None:
    plain = tmp_path / "terms.txt"
    plain.write_text("冰毒\n", encoding="utf-8")
    code, output = run("import", str(plain))
    assert code == 2 and "give the terms' --category" in " ".join(output.split())
    code, output = run("remove", "x", "--whole-list")
    assert code == 2 and "no blocklist is named 'x'" in output
