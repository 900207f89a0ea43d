"""The stored blocklists: read by workers (which poll :meth:`BlocklistStore.versions` to reload
without a restart), changed by ``guardstream policy blocklist``.

Every change is one transaction that locks the list's row, bumps its version by one and records
what changed in ``blocklist_changes``; a change that changes nothing leaves the version as it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from guardstream.audit.blocklist_tables import (
    LIST_NAME_CHARS,
    TERM_CHARS,
    BlocklistChangeRow,
    BlocklistRow,
    BlocklistTermRow,
)
from guardstream.audit.review_db import dialect_insert, transaction
from guardstream.audit.tables import row_dict
from guardstream.blocklist.model import Blocklist, BlocklistTerm, ListEffect, MatchMode, TermAction
from guardstream.errors import ConfigurationError
from guardstream.guard.categories import HarmCategory


class BlocklistStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    def versions(self) -> dict[str, int]:
        """{list name: version}: cheap enough to ask every few seconds."""
        with transaction(self._engine) as session:
            return {name: version for name, version in session.execute(select(BlocklistRow.name, BlocklistRow.version))}

    def lists(self) -> list[Blocklist]:
        """Every stored list with its terms, by name."""
        with transaction(self._engine) as session:
            terms: dict[str, list[BlocklistTerm]] = {}
            for row in session.scalars(select(BlocklistTermRow).order_by(BlocklistTermRow.term)):
                terms.setdefault(row.list_name, []).append(_term(row))
            return [
                _blocklist(row, terms.get(row.name, []))
                for row in session.scalars(select(BlocklistRow).order_by(BlocklistRow.name))
            ]

    def get(self, name: str) -> Blocklist | None:
        return next((blocklist for blocklist in self.lists() if blocklist.name == name), None)

    def add(
        self,
        name: str,
        terms: Sequence[BlocklistTerm],
        *,
        by: str,
        effect: ListEffect | None = None,
        raise_to: float | None = None,
        description: str | None = None,
    ) -> Blocklist:
        """Add (or change) ``terms`` in list ``name``, creating it if it is new; returns the list as stored."""
        _check_name(name)
        for term in terms:
            _check_term(term.term)
        with transaction(self._engine) as session:
            row = self._locked(session, name, create=True)
            changes = []
            for key, value in (("effect", effect), ("raise_to", raise_to), ("description", description)):
                if value is not None and getattr(row, key) != value:
                    setattr(row, key, value)
                    changes.append(f"{key}={value}")
            stored = {term.term: term for term in _terms(session, name)}
            changed = [term for term in terms if stored.get(term.term) != term]
            for term in changed:
                session.merge(_term_row(name, term))
            added = [_describe(term) for term in changed]
            return self._bump(session, row, "add", changes + added, by)

    def remove(self, name: str, terms: Sequence[str], *, by: str) -> Blocklist:
        """Remove ``terms`` from list ``name``; every term must be in it."""
        with transaction(self._engine) as session:
            row = self._locked(session, name, create=False)
            stored = {term.term for term in _terms(session, name)}
            missing = [term for term in terms if term not in stored]
            if missing:
                raise ConfigurationError(f"blocklist {name!r} has no term {', '.join(map(repr, missing))}")
            session.execute(
                delete(BlocklistTermRow).where(BlocklistTermRow.list_name == name, BlocklistTermRow.term.in_(terms))
            )
            return self._bump(session, row, "remove", list(terms), by)

    def replace(self, blocklist: Blocklist, *, by: str) -> Blocklist:
        """Make list ``blocklist.name`` hold exactly this effect and these terms (an import)."""
        _check_name(blocklist.name)
        for term in blocklist.terms:
            _check_term(term.term)
        with transaction(self._engine) as session:
            row = self._locked(session, blocklist.name, create=True)
            before = {term.term: term for term in _terms(session, blocklist.name)}
            after = {term.term: term for term in blocklist.terms}
            changes = [f"-{term}" for term in sorted(before.keys() - after.keys())]
            changes += [_describe(term) for key, term in sorted(after.items()) if before.get(key) != term]
            for key in ("effect", "raise_to", "description"):
                if getattr(row, key) != getattr(blocklist, key):
                    setattr(row, key, getattr(blocklist, key))
                    changes.append(f"{key}={getattr(blocklist, key)}")
            session.execute(delete(BlocklistTermRow).where(BlocklistTermRow.list_name == blocklist.name))
            session.flush()
            for term in blocklist.terms:
                session.add(_term_row(blocklist.name, term))
            return self._bump(session, row, "import", changes, by)

    def drop(self, name: str, *, by: str) -> None:
        """Delete list ``name`` and its terms (its history stays)."""
        with transaction(self._engine) as session:
            row = self._locked(session, name, create=False)
            session.execute(delete(BlocklistTermRow).where(BlocklistTermRow.list_name == name))
            session.add(_change(name, row.version + 1, "drop", [], by))
            session.delete(row)

    def history(self, name: str) -> list[dict[str, object]]:
        """Every change to list ``name``, oldest first."""
        with transaction(self._engine) as session:
            rows = session.scalars(
                select(BlocklistChangeRow).where(BlocklistChangeRow.list_name == name).order_by(BlocklistChangeRow.id)
            )
            return [row_dict(row) for row in rows]

    def _locked(self, session: Session, name: str, *, create: bool) -> BlocklistRow:
        if create:
            session.execute(
                self._insert(BlocklistRow)
                .values(
                    name=name,
                    version=0,
                    effect=ListEffect.DECIDE.value,
                    raise_to=0.5,
                    description="",
                    updated_at_ms=_now_ms(),
                )
                .on_conflict_do_nothing()
            )
        row = session.scalars(select(BlocklistRow).where(BlocklistRow.name == name).with_for_update()).one_or_none()
        if row is None:
            raise ConfigurationError(f"no blocklist is named {name!r}")
        return row

    @staticmethod
    def _bump(session: Session, row: BlocklistRow, change: str, details: list[str], by: str) -> Blocklist:
        if details or row.version == 0:
            row.version += 1
            row.updated_at_ms = _now_ms()
            session.add(_change(row.name, row.version, change, details, by))
        session.flush()
        return _blocklist(row, _terms(session, row.name))


def _terms(session: Session, name: str) -> list[BlocklistTerm]:
    rows = session.scalars(
        select(BlocklistTermRow).where(BlocklistTermRow.list_name == name).order_by(BlocklistTermRow.term)
    )
    return [_term(row) for row in rows]


def _term(row: BlocklistTermRow) -> BlocklistTerm:
    return BlocklistTerm(row.term, HarmCategory(row.category), TermAction(row.action), MatchMode(row.match))


def _term_row(name: str, term: BlocklistTerm) -> BlocklistTermRow:
    return BlocklistTermRow(
        list_name=name, term=term.term, category=term.category.value, action=term.action.value, match=term.match.value
    )


def _blocklist(row: BlocklistRow, terms: Sequence[BlocklistTerm]) -> Blocklist:
    return Blocklist(row.name, row.version, ListEffect(row.effect), row.raise_to, row.description, tuple(terms))


def _change(name: str, version: int, change: str, details: list[str], by: str) -> BlocklistChangeRow:
    return BlocklistChangeRow(
        list_name=name,
        version=version,
        change=change,
        detail=json.dumps(details, ensure_ascii=False),
        changed_by=by[:64],
        changed_at_ms=_now_ms(),
    )


def _describe(term: BlocklistTerm) -> str:
    return f"+{term.term} ({term.category.value}, {term.action.value}, {term.match.value})"


def _check_name(name: str) -> None:
    if not name or len(name) > LIST_NAME_CHARS or not name.isprintable():
        raise ConfigurationError(f"blocklist name {name!r}: 1 to {LIST_NAME_CHARS} printable characters")


def _check_term(term: str) -> None:
    if not term.strip() or len(term) > TERM_CHARS or not term.isprintable():
        raise ConfigurationError(f"blocklist term {term!r}: 1 to {TERM_CHARS} printable characters, not blank")


def _now_ms() -> int:
    return int(time.time() * 1000)
