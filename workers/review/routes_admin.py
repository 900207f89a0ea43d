"""The overview page (everyone), accounts and the action trail (admins), and a health probe."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from workers.review.auth import User, hash_password, validate_new_account
from workers.review.overview import (
    HOUR_MS,
    agreement_by_category,
    agreement_chart,
    hourly_chart,
    hourly_counts,
)
from workers.review.queue import QueueFilters
from workers.review.security import admin_user, client_ip, csrf_form, current_user, services
from workers.review.views import Renderer

AGREEMENT_DAYS = 7


def build_router(renderer: Renderer) -> APIRouter:
    router = APIRouter()

    @router.get("/overview")
    def overview(request: Request, user: User = Depends(current_user)) -> Response:
        svc = services(request)
        now = svc.clock_ms()
        queue = svc.queue
        labels = queue.labels_since(now - AGREEMENT_DAYS * 24 * HOUR_MS)
        hourly = hourly_counts([row["labelled_at_ms"] for row in labels], now)
        agreement = agreement_by_category(labels)
        pending = queue.items(QueueFilters(status="pending"), now, limit=1)
        return renderer.page(
            request,
            "overview.html",
            user,
            queue_total=queue.count(QueueFilters(status="pending"), now),
            queue_unsafe=queue.count(QueueFilters(status="pending", model_label="unsafe"), now),
            queue_review=queue.count(QueueFilters(status="pending", model_label="review"), now),
            oldest_pending_ms=pending[0].verdict["verdict_at_ms"] if pending else None,
            labels_24h=sum(count for _, count in hourly),
            hourly=hourly_chart(hourly, svc.zone),
            agreement=agreement,
            agreement_chart=agreement_chart(agreement),
            agreement_days=AGREEMENT_DAYS,
            relay_error=svc.relay.last_error if svc.relay else "the relay does not run in this process",
        )

    @router.get("/admin/users")
    def users(request: Request, user: User = Depends(admin_user)) -> Response:
        return renderer.page(request, "users.html", user, accounts=services(request).accounts.accounts(), error="")

    @router.post("/admin/users")
    def create_user(
        request: Request, user: User = Depends(admin_user), form: FormData = Depends(csrf_form)
    ) -> Response:
        svc = services(request)
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        role = str(form.get("role") or "reviewer")
        problem = validate_new_account(username, password, role)
        now = svc.clock_ms()
        if problem is None and not svc.accounts.create_account(
            username, hash_password(password), role, user.username, now
        ):
            problem = "username: taken"
        if problem is not None:
            return renderer.page(request, "users.html", user, 400, accounts=svc.accounts.accounts(), error=problem)
        svc.trail.record_action(
            user.username, "create_user", now, ip=client_ip(request), detail={"username": username, "role": role}
        )
        return RedirectResponse("/admin/users?msg=user_created", status_code=303)

    @router.get("/admin/trail")
    def trail(request: Request, user: User = Depends(admin_user)) -> Response:
        actor = request.query_params.get("actor") or None
        return renderer.page(
            request, "trail.html", user, actions=services(request).trail.actions(300, actor=actor), actor=actor or ""
        )

    @router.get("/healthz")
    def health(request: Request) -> Response:
        svc = services(request)
        error = svc.relay.last_error if svc.relay else None
        return JSONResponse({"status": "degraded" if error else "ok", "relay_error": error})

    return router
