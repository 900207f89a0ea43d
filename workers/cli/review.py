"""``guardstream review``: the review web app and its accounts."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from workers.role_check import CHECK_HELP

app = typer.Typer(help="The review web app where moderators label flagged chat.", no_args_is_help=True)


@app.command("serve")
def serve(
    host: str = typer.Option(None, help="Address to listen on (default: GUARDSTREAM_REVIEW__HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (default: GUARDSTREAM_REVIEW__PORT, 8080)."),
    relay: bool = typer.Option(
        True, "--relay/--no-relay", help="Also run the relay that sends labels to moderation.feedback."
    ),
    insecure_cookies: bool = typer.Option(
        False, "--insecure-cookies", help="Send cookies over plain http (local testing only; never in production)."
    ),
    check: bool = typer.Option(False, "--check", help=CHECK_HELP),
) -> None:
    """Serve the review queue, labelling and overview pages (and relay labels to Kafka)."""
    import logging

    from guardstream.settings import load_settings
    from workers.review.server import serve as run
    from workers.review.settings import load_review_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if insecure_cookies:
        overrides["secure_cookies"] = False
    if check:
        _check_review(overrides)
    run(load_settings(), load_review_settings(**overrides), with_relay=relay)


def _check_review(overrides: dict[str, object]) -> NoReturn:
    """``--check`` of the review app and of its relay: a bad review setting fails it too."""
    from guardstream.settings import Settings, load_settings
    from workers.review.settings import load_review_settings
    from workers.role_check import check_role

    def settings() -> Settings:
        load_review_settings(**overrides)
        return load_settings()

    check_role("review", settings)


@app.command("relay")
def relay(check: bool = typer.Option(False, "--check", help=CHECK_HELP)) -> None:
    """Run only the relay that sends labels to moderation.feedback (when `review serve --no-relay` serves
    the pages), until SIGTERM or Ctrl-C. Exactly once whichever runs it: one transactional id."""
    import logging
    import signal
    import threading

    from guardstream.settings import load_settings
    from workers.review.server import run_relay
    from workers.review.settings import load_review_settings

    if check:
        _check_review({})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_relay(load_settings(), load_review_settings(), stop)


@app.command("add-user")
def add_user(
    username: str = typer.Argument(..., help="Login name: a-z, 0-9, dot, dash, underscore."),
    role: str = typer.Option("reviewer", help="reviewer or admin."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input instead of prompting."
    ),
) -> None:
    """Create a reviewer or admin account in the audit store (the password is stored as an Argon2 hash)."""
    from guardstream.audit.engine import build_engine, migrate
    from guardstream.settings import load_settings
    from workers.review.accounts import AccountStore
    from workers.review.auth import hash_password, validate_new_account
    from workers.review.services import wall_clock_ms
    from workers.review.trail import ReviewTrail

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = validate_new_account(username, password, role)
    if problem is not None:
        typer.echo(problem, err=True)
        raise typer.Exit(2)
    engine = build_engine(load_settings().audit.url)
    migrate(engine)
    now = wall_clock_ms()
    if not AccountStore(engine).create_account(username, hash_password(password), role, "cli", now):
        typer.echo(f"account {username!r} exists already", err=True)
        raise typer.Exit(1)
    ReviewTrail(engine).record_action("cli", "create_user", now, detail={"username": username, "role": role})
    typer.echo(f"created {role} {username}")
