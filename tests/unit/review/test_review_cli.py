"""`guardstream review add-user` over a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardstream.audit.engine import build_engine
from workers.cli.main import app
from workers.review.accounts import AccountStore
from workers.review.auth import verify_password


def test_add_user_stores_an_argon2_hash_and_refuses_duplicates_and_weak_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("GUARDSTREAM_AUDIT__URL", url)
    runner = CliRunner()
    created = runner.invoke(
        app, ["review", "add-user", "alice", "--role", "admin", "--password-stdin"], input="correct horse battery\n"
    )
    assert created.exit_code == 0, created.output
    account = AccountStore(build_engine(url)).account("alice")
    assert account is not None and account.role == "admin" and account.password_hash.startswith("$argon2id$")
    assert verify_password(account.password_hash, "correct horse battery")
    again = runner.invoke(app, ["review", "add-user", "alice", "--password-stdin"], input="correct horse battery\n")
    assert again.exit_code == 1
    weak = runner.invoke(app, ["review", "add-user", "bob", "--password-stdin"], input="short\n")
    assert weak.exit_code == 2
