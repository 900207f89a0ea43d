"""Passwords (Argon2id), signed session cookies backed by the sessions table, and CSRF tokens.

The cookie holds a random token signed with the app's key; the table stores only the token's
SHA-256, so a database reader cannot log in. Each session has its own CSRF token, which every
POST form carries; the login form, which has no session yet, uses a signed double-submit token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

ROLES = ("reviewer", "admin")
SESSION_COOKIE = "gs_review_session"
LOGIN_CSRF_COOKIE = "gs_review_login"
LOGIN_FORM_TTL_S = 3600
"""How long a login form (its signed token and nonce cookie) stays good, if it is not used first."""
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    csrf_token: str
    session_hash: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists (a missing account checks a dummy hash)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


def validate_new_account(username: str, password: str, role: str) -> str | None:
    """What is wrong with a new account's fields, or None."""
    if not (1 <= len(username) <= 64) or not all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in username):
        return "username: 1–64 characters of a-z, 0-9, dot, dash, underscore"
    if len(password) < 12:
        return "password: at least 12 characters"
    if role not in ROLES:
        return f"role: one of {', '.join(ROLES)}"
    return None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def tokens_match(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


class CookieSigner:
    """Signs session tokens and login CSRF nonces with the app's secret key."""

    def __init__(self, secret_key: str, session_ttl_s: int) -> None:
        self._sessions = TimestampSigner(secret_key, salt="guardstream-review-session")
        self._login = URLSafeTimedSerializer(secret_key, salt="guardstream-review-login")
        self._ttl = session_ttl_s

    def sign_session(self, token: str) -> str:
        return self._sessions.sign(token).decode("ascii")

    def session_token(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            return self._sessions.unsign(cookie, max_age=self._ttl).decode("ascii")
        except (BadSignature, SignatureExpired, UnicodeDecodeError):
            return None

    def login_token(self, nonce: str) -> str:
        return self._login.dumps(nonce)

    def login_token_valid(self, token: str | None, cookie_nonce: str | None) -> bool:
        if not token or not cookie_nonce:
            return False
        try:
            nonce = self._login.loads(token, max_age=LOGIN_FORM_TTL_S)
        except (BadSignature, SignatureExpired):
            return False
        return isinstance(nonce, str) and hmac.compare_digest(nonce.encode(), cookie_nonce.encode())
