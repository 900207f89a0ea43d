"""Blocklist files: the YAML format of the shipped lists and of ``guardstream policy blocklist import``.

.. code-block:: yaml

    name: hate-abuse
    description: Insults and curses aimed at a person
    effect: decide        # or raise, with raise_to: 0.8
    terms:
      - {term: 傻逼, category: hate_abuse, action: unsafe, match: variant}

The store assigns versions, so a file has none unless it states one (``version: 3``); a file loads
as version 0. A plain text file (one term a line, ``#`` starts a comment) is read with the category,
action and match the caller gives. Every error names the file and the entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from guardstream.blocklist.model import Blocklist, BlocklistTerm, ListEffect, MatchMode, TermAction
from guardstream.errors import ConfigurationError
from guardstream.guard.categories import HarmCategory

LIST_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SHIPPED_FOLDER = "lists"


class TermEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    term: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    category: HarmCategory
    action: TermAction = TermAction.UNSAFE
    match: MatchMode = MatchMode.VARIANT


class BlocklistFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=LIST_NAME_PATTERN)]
    version: int = Field(0, ge=0)
    description: str = ""
    effect: ListEffect = ListEffect.DECIDE
    raise_to: float | None = Field(None, gt=0.0, le=1.0)
    terms: list[TermEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _raise_to_goes_with_raise(self) -> BlocklistFile:
        if self.effect is ListEffect.RAISE and self.raise_to is None:
            raise ValueError("effect raise needs raise_to (the p_unsafe a hit raises the score to)")
        if self.effect is ListEffect.DECIDE and self.raise_to is not None:
            raise ValueError("raise_to is only for effect raise")
        seen: dict[str, int] = {}
        for index, entry in enumerate(self.terms):
            if entry.term in seen:
                raise ValueError(f"terms[{index}] ({entry.term}) repeats terms[{seen[entry.term]}]")
            seen[entry.term] = index
        return self


def parse_blocklist(text: str, *, source: str) -> Blocklist:
    """Parse the YAML of a blocklist file; ``source`` names it in errors."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"blocklist file {source}: not valid YAML: {exc}") from None
    return _blocklist(raw if raw is not None else {}, source)


def _blocklist(raw: Any, source: str) -> Blocklist:
    try:
        parsed = BlocklistFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(f"blocklist file {source}: {_describe(exc, raw)}") from None
    terms = tuple(BlocklistTerm(e.term, e.category, e.action, e.match) for e in parsed.terms)
    if parsed.raise_to is None:
        return Blocklist(parsed.name, parsed.version, parsed.effect, description=parsed.description, terms=terms)
    return Blocklist(parsed.name, parsed.version, parsed.effect, parsed.raise_to, parsed.description, terms)


def load_blocklist(path: Path) -> Blocklist:
    """Read and validate a blocklist YAML file."""
    return parse_blocklist(_read(path), source=str(path))


def load_plain_terms(
    path: Path,
    *,
    category: HarmCategory,
    action: TermAction = TermAction.UNSAFE,
    match: MatchMode = MatchMode.VARIANT,
    name: str | None = None,
    effect: ListEffect = ListEffect.DECIDE,
    raise_to: float | None = None,
) -> Blocklist:
    """A list from a text file of one term a line; the name defaults to the file's stem."""
    entries = [
        {"term": line.strip(), "category": category.value, "action": action.value, "match": match.value}
        for line in _read(path).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    document: dict[str, Any] = {"name": name or path.stem.lower(), "effect": effect.value, "terms": entries}
    if raise_to is not None:
        document["raise_to"] = raise_to
    return _blocklist(document, str(path))


def dump_blocklist(blocklist: Blocklist, *, with_version: bool = False) -> str:
    """The YAML a file of this list holds (the version only when asked: the store assigns it)."""
    lines = [f"name: {blocklist.name}"]
    if with_version:
        lines.append(f"version: {blocklist.version}")
    if blocklist.description:
        lines.append(f"description: {_scalar(blocklist.description)}")
    lines.append(f"effect: {blocklist.effect.value}")
    if blocklist.effect is ListEffect.RAISE:
        lines.append(f"raise_to: {blocklist.raise_to}")
    lines.append("terms:")
    for term in blocklist.terms:
        lines.append(
            f"  - {{term: {_scalar(term.term)}, category: {term.category.value}, "
            f"action: {term.action.value}, match: {term.match.value}}}"
        )
    return "\n".join(lines) + "\n"


def write_blocklist(blocklist: Blocklist, path: Path, *, with_version: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_blocklist(blocklist, with_version=with_version), encoding="utf-8")
    return path


def shipped_lists() -> list[Blocklist]:
    """The default lists that ship with guardstream, one per harm scenario, by name."""
    folder = files("guardstream.blocklist") / SHIPPED_FOLDER
    found = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".yaml")), key=lambda e: e.name)
    return [
        parse_blocklist(
            entry.read_text(encoding="utf-8"), source=f"guardstream/blocklist/{SHIPPED_FOLDER}/{entry.name}"
        )
        for entry in found
    ]


def load_lists(paths: Sequence[Path]) -> list[Blocklist]:
    """Lists from files: ``.yaml``/``.yml`` as blocklist files; names must not repeat."""
    lists = [load_blocklist(path) for path in paths]
    names = [blocklist.name for blocklist in lists]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigurationError(f"blocklist files: the name {', '.join(repeated)} is given by more than one file")
    return lists


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"blocklist file {path}: cannot read it: {exc}") from None


def _describe(exc: ValidationError, raw: Any) -> str:
    problems = []
    for error in exc.errors():
        location = error["loc"]
        where = ".".join(str(part) for part in location) or "(top)"
        if len(location) >= 2 and location[0] == "terms" and isinstance(location[1], int):
            where = f"terms[{location[1]}]" + "".join(f".{part}" for part in location[2:])
            term = _term_at(raw, location[1])
            if term is not None:
                where += f" ({term})"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def _term_at(raw: Any, index: int) -> str | None:
    try:
        term = raw["terms"][index]["term"]
    except (KeyError, IndexError, TypeError):
        return None
    return str(term)


def _scalar(text: str) -> str:
    """A YAML flow scalar for ``text``: quoted when it needs to be."""
    dumped: str = yaml.safe_dump(text, allow_unicode=True, default_flow_style=True, width=10**6).strip()
    return dumped.removesuffix("\n...").removesuffix("...").strip()
