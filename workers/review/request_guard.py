"""Hostile request fields stop at the door: 400 before routing, before any query.

No field of this app needs a control character, and PostgreSQL text cannot hold NUL at all, so
the path, every query parameter and every form field is refused (400) if it holds one; only form
values may hold tabs and line breaks (a note is typed in a textarea). POST bodies are the app's
own urlencoded forms, bounded in size; the form is parsed here by the same parser the routes use,
and the body is then handed on unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def has_control(value: str, *, text: bool = False) -> bool:
    """True if ``value`` holds a control character (``text``: tab, CR and LF allowed)."""
    return (_CONTROL_IN_TEXT if text else _CONTROL).search(value) is not None


def any_control(values: Iterable[str]) -> bool:
    return any(has_control(value) for value in values)


class RequestFieldGuard:
    """ASGI middleware: refuses control characters in path, query and form, and oversized or
    non-form bodies, with a plain 400/413/415 that touches nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        query = QueryParams(scope.get("query_string", b""))
        if has_control(scope["path"]) or any_control(key + value for key, value in query.multi_items()):
            await _refuse(400, "Control characters are not accepted in the address.")(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except _ClientGone:
            return
        if body is None:
            await _refuse(413, "The request is too large.")(scope, receive, send)
            return
        if body:
            problem = await _form_problem(scope, body)
            if problem is not None:
                status, message = problem
                await _refuse(status, message)(scope, receive, send)
                return
        await self._app(scope, _replay(body, receive), send)


class _ClientGone(Exception):
    pass


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when it passes MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _form_problem(scope: Scope, body: bytes) -> tuple[int, str] | None:
    request = Request(scope, _replay(body, _no_more))
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        return 415, "Only this app's forms are accepted."
    form = await request.form()
    for key, value in form.multi_items():
        if has_control(key) or not isinstance(value, str) or has_control(value, text=True):
            return 400, "Control characters are not accepted in a form."
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _no_more() -> Message:
    return {"type": "http.disconnect"}


def _refuse(status: int, message: str) -> PlainTextResponse:
    return PlainTextResponse(message, status_code=status)
