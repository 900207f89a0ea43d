"""Accounts, login sessions and used login-form nonces of the review app.

Passwords are stored only as Argon2 hashes (made in :mod:`workers.review.auth`), sessions and
nonces only as the SHA-256 of the token the browser holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, select, update

from guardstream.audit.review_db import dialect_insert, transaction
from guardstream.audit.review_tables import ReviewAccountRow, ReviewLoginNonceRow, ReviewSessionRow


@dataclass(frozen=True, slots=True)
class AccountRecord:
    username: str
    password_hash: str
    role: str
    active: bool
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class SessionInfo:
    username: str
    role: str
    csrf_token: str
    expires_at_ms: int


class AccountStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    def create_account(self, username: str, password_hash: str, role: str, created_by: str | None, now_ms: int) -> bool:
        """Add an account; False when the username is taken."""
        row = {
            "username": username,
            "password_hash": password_hash,
            "role": role,
            "active": True,
            "created_at_ms": now_ms,
            "created_by": created_by,
        }
        with transaction(self._engine) as session:
            statement = self._insert(ReviewAccountRow).values(row).on_conflict_do_nothing()
            return session.execute(statement.returning(ReviewAccountRow.username)).first() is not None

    def account(self, username: str) -> AccountRecord | None:
        with transaction(self._engine) as session:
            row = session.get(ReviewAccountRow, username)
            return None if row is None else _account(row)

    def accounts(self) -> list[AccountRecord]:
        with transaction(self._engine) as session:
            return [_account(r) for r in session.scalars(select(ReviewAccountRow).order_by(ReviewAccountRow.username))]

    def set_password_hash(self, username: str, password_hash: str) -> None:
        with transaction(self._engine) as session:
            session.execute(
                update(ReviewAccountRow)
                .where(ReviewAccountRow.username == username)
                .values(password_hash=password_hash)
            )

    def create_session(
        self, session_hash: str, username: str, csrf_token: str, now_ms: int, expires_at_ms: int
    ) -> None:
        with transaction(self._engine) as session:
            session.execute(delete(ReviewSessionRow).where(ReviewSessionRow.expires_at_ms < now_ms))
            session.add(
                ReviewSessionRow(
                    session_hash=session_hash,
                    username=username,
                    csrf_token=csrf_token,
                    created_at_ms=now_ms,
                    expires_at_ms=expires_at_ms,
                )
            )

    def session_info(self, session_hash: str, now_ms: int) -> SessionInfo | None:
        """The live session with this hash whose account is still active, if any."""
        query = (
            select(ReviewSessionRow, ReviewAccountRow.role)
            .join(ReviewAccountRow, ReviewAccountRow.username == ReviewSessionRow.username)
            .where(
                ReviewSessionRow.session_hash == session_hash,
                ReviewSessionRow.expires_at_ms > now_ms,
                ReviewAccountRow.active.is_(True),
            )
        )
        with transaction(self._engine) as session:
            found = session.execute(query).first()
            if found is None:
                return None
            row, role = found
            return SessionInfo(row.username, role, row.csrf_token, row.expires_at_ms)

    def use_login_nonce(self, nonce_hash: str, now_ms: int, expires_at_ms: int) -> bool:
        """Mark a login form's nonce used; False when it was used before (a replayed form).

        Remembered until ``expires_at_ms``, past which the form's own signature has expired.
        """
        row = {"nonce_hash": nonce_hash, "used_at_ms": now_ms, "expires_at_ms": expires_at_ms}
        with transaction(self._engine) as session:
            session.execute(delete(ReviewLoginNonceRow).where(ReviewLoginNonceRow.expires_at_ms < now_ms))
            statement = self._insert(ReviewLoginNonceRow).values(row).on_conflict_do_nothing()
            return session.execute(statement.returning(ReviewLoginNonceRow.nonce_hash)).first() is not None

    def delete_session(self, session_hash: str) -> None:
        with transaction(self._engine) as session:
            session.execute(delete(ReviewSessionRow).where(ReviewSessionRow.session_hash == session_hash))


def _account(row: ReviewAccountRow) -> AccountRecord:
    return AccountRecord(row.username, row.password_hash, row.role, bool(row.active), row.created_at_ms)
