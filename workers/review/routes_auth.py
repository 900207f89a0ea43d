"""Log in (rate-limited, CSRF-checked before any session exists, each form once) and log out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from workers.review.auth import (
    LOGIN_CSRF_COOKIE,
    LOGIN_FORM_TTL_S,
    SESSION_COOKIE,
    User,
    hash_password,
    needs_rehash,
    new_token,
    token_hash,
    verify_password,
)
from workers.review.security import client_ip, csrf_form, current_user, same_origin, services
from workers.review.views import Renderer


def safe_next(target: str | None) -> str:
    """Only paths of this app: never another host, scheme or protocol-relative URL."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 0x21 for ch in target)
    ):
        return "/queue"
    return target


def build_router(renderer: Renderer) -> APIRouter:
    router = APIRouter()

    def login_page(request: Request, status: int = 200, message: str = "", next_path: str = "/queue") -> Response:
        svc = services(request)
        nonce = new_token()
        response = renderer.page(
            request,
            "login.html",
            None,
            status,
            message=message,
            login_token=svc.signer.login_token(nonce),
            next_path=safe_next(next_path),
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            nonce,
            max_age=LOGIN_FORM_TTL_S,
            path="/login",
            httponly=True,
            samesite="strict",
            secure=svc.settings.secure_cookies,
        )
        return response

    @router.get("/login")
    def show_login(request: Request) -> Response:
        return login_page(request, next_path=request.query_params.get("next", "/queue"))

    @router.post("/login")
    async def log_in(request: Request) -> Response:
        svc = services(request)
        form = await request.form()
        username = str(form.get("username") or "").strip()[:64]
        password = str(form.get("password") or "")
        next_path = safe_next(str(form.get("next") or ""))
        ip, now = client_ip(request), svc.clock_ms()
        nonce = request.cookies.get(LOGIN_CSRF_COOKIE)
        token_ok = svc.signer.login_token_valid(str(form.get("login_token") or ""), nonce) and same_origin(request)
        if not token_ok or not svc.accounts.use_login_nonce(
            token_hash(nonce or ""), now, now + LOGIN_FORM_TTL_S * 1000
        ):
            svc.trail.record_action(username or "?", "login_csrf_rejected", now, ip=ip)
            return login_page(request, 403, "The login form expired; try again.", next_path)
        wait = svc.limiter.retry_after(ip, username)
        if wait > 0:
            svc.trail.record_action(username or "?", "login_blocked", now, ip=ip, detail={"retry_after_s": round(wait)})
            response = login_page(request, 429, f"Too many failed logins. Try again in {int(wait) + 1} s.", next_path)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        account = svc.accounts.account(username) if username else None
        usable = account is not None and account.active
        if not verify_password(account.password_hash if usable and account else None, password):
            svc.limiter.failed(ip, username)
            svc.trail.record_action(username or "?", "login_failed", now, ip=ip)
            return login_page(request, 401, "Wrong username or password.", next_path)
        assert account is not None
        svc.limiter.succeeded(ip, username)
        if needs_rehash(account.password_hash):
            svc.accounts.set_password_hash(username, hash_password(password))
        token = new_token()
        ttl_ms = svc.settings.session_ttl_s * 1000
        svc.accounts.create_session(token_hash(token), username, new_token(), now, now + ttl_ms)
        svc.trail.record_action(username, "login", now, ip=ip)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            svc.signer.sign_session(token),
            max_age=svc.settings.session_ttl_s,
            path="/",
            httponly=True,
            samesite="strict",
            secure=svc.settings.secure_cookies,
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    @router.post("/logout")
    def log_out(request: Request, user: User = Depends(current_user), form: FormData = Depends(csrf_form)) -> Response:
        svc = services(request)
        svc.accounts.delete_session(user.session_hash)
        svc.trail.record_action(user.username, "logout", svc.clock_ms(), ip=client_ip(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return router
