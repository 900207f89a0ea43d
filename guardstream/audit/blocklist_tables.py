"""SQLAlchemy tables of the stored blocklists (created by migration 0007).

A list's ``version`` grows by one with every change to it (its terms, its effect); every change is
also kept in ``blocklist_changes``, so the version a verdict names can be read back as it was.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from guardstream.audit.tables import Base

LIST_NAME_CHARS = 64
TERM_CHARS = 200


class BlocklistRow(Base):
    __tablename__ = "blocklists"

    name: Mapped[str] = mapped_column(String(LIST_NAME_CHARS), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    effect: Mapped[str] = mapped_column(String(16))
    raise_to: Mapped[float] = mapped_column(Float)
    description: Mapped[str] = mapped_column(Text)
    updated_at_ms: Mapped[int] = mapped_column(BigInteger)


class BlocklistTermRow(Base):
    __tablename__ = "blocklist_terms"

    list_name: Mapped[str] = mapped_column(
        String(LIST_NAME_CHARS), ForeignKey("blocklists.name", ondelete="CASCADE"), primary_key=True
    )
    term: Mapped[str] = mapped_column(String(TERM_CHARS), primary_key=True)
    category: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    match: Mapped[str] = mapped_column(String(16))


class BlocklistChangeRow(Base):
    """One change to a list: what it was, by whom, and the version it made."""

    __tablename__ = "blocklist_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_name: Mapped[str] = mapped_column(String(LIST_NAME_CHARS), index=True)
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at_ms: Mapped[int] = mapped_column(BigInteger)
