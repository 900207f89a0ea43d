"""Request guards: security headers on every response, the logged-in user, CSRF on every POST."""

from __future__ import annotations

from ipaddress import IPv6Address, ip_address
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import FormData
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workers.review.auth import SESSION_COOKIE, User, token_hash, tokens_match
from workers.review.services import ReviewServices

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

DEFAULT_PORTS = {"http": 80, "https": 443}
SERVER_ERROR = "Something went wrong on the server; the details are in its log."


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response; pages are never cached.

    It is the outermost of the app's middleware, so it also answers for an unhandled error (a
    plain 500 with these headers, no details) before re-raising it for the server to log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")
        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            await self._app(scope, receive, with_headers)
        except Exception:
            if not started:
                await PlainTextResponse(SERVER_ERROR, status_code=500)(scope, receive, with_headers)
            raise


class LoginRequired(Exception):
    """No valid session: the handler sends the browser to the login page."""


def services(request: Request) -> ReviewServices:
    return request.app.state.services


def client_ip(request: Request) -> str:
    """The client's address as the login limits and the audit log key it, in one spelling.

    Behind a trusted proxy it comes from X-Forwarded-For; an entry there that is not an address
    (a hop that forwards what it was sent) is "unknown", one key that rotating junk cannot escape.
    """
    try:
        address = ip_address(request.client.host if request.client else "")
    except ValueError:
        return "unknown"
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def current_user(request: Request) -> User:
    svc = services(request)
    token = svc.signer.session_token(request.cookies.get(SESSION_COOKIE))
    if token is None:
        raise LoginRequired()
    digest = token_hash(token)
    info = svc.accounts.session_info(digest, svc.clock_ms())
    if info is None:
        raise LoginRequired()
    return User(info.username, info.role, info.csrf_token, digest)


def admin_user(user: User = Depends(current_user)) -> User:
    if not user.is_admin:
        raise HTTPException(status_code=403, detail="admins only")
    return user


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, the port spelt out; None for anything else."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a malformed host or port
        return None
    if port is None or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port


def same_origin(request: Request) -> bool:
    """A present Origin (or, lacking it, Referer) must be this app's: same scheme, host and port."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source is None
    own = origin_of(str(request.url))
    return own is not None and origin_of(source) == own


async def csrf_form(request: Request, user: User = Depends(current_user)) -> FormData:
    """The POSTed form, after checking its CSRF token against the session's and the origin."""
    form = await request.form()
    token: Any = form.get("csrf_token")
    if not same_origin(request) or not isinstance(token, str) or not tokens_match(user.csrf_token, token):
        services(request).trail.record_action(
            user.username,
            "csrf_rejected",
            services(request).clock_ms(),
            ip=client_ip(request),
            detail={"path": request.url.path},
        )
        raise HTTPException(status_code=403, detail="CSRF check failed: reload the page and try again")
    return form
