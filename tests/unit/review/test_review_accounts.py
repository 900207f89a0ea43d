"""Accounts and login sessions of the review app, on SQLite and PostgreSQL."""

from __future__ import annotations

from workers.review.accounts import AccountStore


def test_an_account_is_created_once_and_its_sessions_expire_or_end(accounts: AccountStore) -> None:
    assert accounts.create_account("alice", "hash", "admin", None, 1)
    assert not accounts.create_account("alice", "other", "reviewer", None, 2)
    accounts.create_session("h1", "alice", "csrf", 10, 100)
    info = accounts.session_info("h1", 50)
    assert info is not None and info.role == "admin" and info.csrf_token == "csrf"
    assert accounts.session_info("h1", 100) is None  # expired
    accounts.delete_session("h1")
    assert accounts.session_info("h1", 50) is None
