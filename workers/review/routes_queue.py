"""The queue and the item page: open, label, skip, undo, explain. Every write is a CSRF-checked POST."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from guardstream.audit.review_store import FLAGGED_LABELS, LabelOutcome, QueueFilters
from guardstream.guard.categories import HarmCategory
from guardstream.records import FeedbackLabel
from workers.review.auth import User
from workers.review.explain import ExplanationUnavailable
from workers.review.filters import format_local_time, parse_filters, to_query
from workers.review.security import client_ip, csrf_form, current_user, services
from workers.review.services import ReviewServices
from workers.review.text_safety import warnings
from workers.review.views import Renderer

MAX_NOTE_CHARS = 2000


def build_router(renderer: Renderer) -> APIRouter:
    router = APIRouter()

    def form_filters(request: Request, form: FormData) -> QueueFilters:
        """Filters travel with POSTs as the ``filters`` field (a query string we wrote)."""
        return parse_filters(dict(parse_qsl(str(form.get("filters") or ""))), services(request).zone)

    def item_url(event_id: str, filters: QueueFilters, request: Request, msg: str = "") -> str:
        query = to_query(filters, services(request).zone)
        if msg:
            query = f"{query}&msg={msg}" if query else f"msg={msg}"
        return f"/review/{quote(event_id, safe='')}" + (f"?{query}" if query else "")

    def go_next(request: Request, user: User, filters: QueueFilters, msg: str) -> Response:
        svc = services(request)
        now = svc.clock_ms()
        skipped = svc.store.skipped_by(user.username, now - svc.settings.skip_memory_s * 1000)
        event_id = svc.store.claim_next(filters, user.username, now, svc.lease_ms, skipped)
        if event_id is None:
            query = to_query(filters, svc.zone)
            return RedirectResponse(f"/queue?{query + '&' if query else ''}msg=empty", status_code=303)
        svc.store.record_action(user.username, "open", now, event_id, client_ip(request))
        return RedirectResponse(item_url(event_id, filters, request, msg), status_code=303)

    @router.get("/")
    def home() -> Response:
        return RedirectResponse("/queue", status_code=303)

    @router.get("/queue")
    def queue(request: Request, user: User = Depends(current_user)) -> Response:
        svc = services(request)
        filters = parse_filters(request.query_params, svc.zone)
        page = max(0, min(10_000, _int(request.query_params.get("page"), 0)))
        now = svc.clock_ms()
        size = svc.settings.page_size
        return renderer.page(
            request, "queue.html", user,
            items=svc.store.queue(filters, now, size, page * size),
            total=svc.store.queue_count(filters, now),
            page=page, page_size=size, filters=filters, query=to_query(filters, svc.zone),
            model_versions=svc.store.model_versions(), flagged_labels=FLAGGED_LABELS,
            since=_local(filters.since_ms, request), until=_local(filters.until_ms, request),
        )

    @router.post("/review/next")
    def review_next(request: Request, user: User = Depends(current_user), form: FormData = Depends(csrf_form)) -> Response:
        return go_next(request, user, form_filters(request, form), "")

    @router.get("/review/{event_id}")
    def item_page(event_id: str, request: Request, user: User = Depends(current_user)) -> Response:
        return render_item(request, user, event_id)

    def render_item(request: Request, user: User, event_id: str, status: int = 200, explain_error: str = "") -> Response:
        svc = services(request)
        item = svc.store.item(event_id, svc.clock_ms())
        if item is None or item.verdict["label"] not in FLAGGED_LABELS:
            raise HTTPException(status_code=404, detail="no flagged item with this event_id")
        verdict = item.verdict
        analysis, analysis_source, unavailable = _analysis(svc, verdict)
        context = [str(line) for line in verdict["context"] or ()]
        filters = parse_filters(request.query_params, svc.zone)
        return renderer.page(
            request, "item.html", user, status,
            item=item, verdict=verdict, analysis=analysis, analysis_source=analysis_source,
            explain_error=explain_error or unavailable, context=context,
            conversation=svc.store.conversation(verdict["conversation_id"], verdict["event_created_at_ms"]),
            warnings=warnings(verdict["question"], verdict["text"], analysis, *context),
            mine=item.lease_holder == user.username, filters_query=to_query(filters, svc.zone),
        )

    @router.post("/review/{event_id}/claim")
    def claim(event_id: str, request: Request, user: User = Depends(current_user), form: FormData = Depends(csrf_form)) -> Response:
        svc = services(request)
        now = svc.clock_ms()
        holder = svc.store.claim(event_id, user.username, now, svc.lease_ms)
        if holder is None:
            raise HTTPException(status_code=404, detail="no item with this event_id")
        msg = "" if holder == user.username else "leased_by_other"
        svc.store.record_action(user.username, "open" if not msg else "open_refused", now, event_id, client_ip(request))
        return RedirectResponse(item_url(event_id, form_filters(request, form), request, msg), status_code=303)

    @router.post("/review/{event_id}/label")
    def label(event_id: str, request: Request, user: User = Depends(current_user), form: FormData = Depends(csrf_form)) -> Response:
        svc = services(request)
        filters = form_filters(request, form)
        choice = str(form.get("label") or "")
        category = str(form.get("category") or "") or None
        note = str(form.get("note") or "").strip()[:MAX_NOTE_CHARS] or None
        revision = _int(str(form.get("revision") or ""), 0)
        if choice not in {label.value for label in FeedbackLabel} or revision < 1 or (
            category is not None and category not in {c.value for c in HarmCategory}
        ):
            return RedirectResponse(item_url(event_id, filters, request, "invalid_label"), status_code=303)
        now = svc.clock_ms()
        outcome = svc.store.record_label(
            event_id, revision, user.username, FeedbackLabel(choice), category, note, now, client_ip(request)
        )
        if outcome in (LabelOutcome.RECORDED, LabelOutcome.DUPLICATE):
            return go_next(request, user, filters, "labelled")
        svc.store.record_action(user.username, "label_rejected", now, event_id, client_ip(request), {"outcome": outcome.value})
        return RedirectResponse(item_url(event_id, filters, request, outcome.value), status_code=303)

    @router.post("/review/{event_id}/skip")
    def skip(event_id: str, request: Request, user: User = Depends(current_user), form: FormData = Depends(csrf_form)) -> Response:
        svc = services(request)
        svc.store.release(event_id, user.username)
        svc.store.record_action(user.username, "skip", svc.clock_ms(), event_id, client_ip(request))
        return go_next(request, user, form_filters(request, form), "skipped")

    @router.post("/undo")
    def undo(request: Request, user: User = Depends(current_user), form: FormData = Depends(csrf_form)) -> Response:
        svc = services(request)
        now = svc.clock_ms()
        outcome = svc.store.undo_last(user.username, now, client_ip(request))
        filters = form_filters(request, form)
        if outcome is None:
            query = to_query(filters, svc.zone)
            return RedirectResponse(f"/queue?{query + '&' if query else ''}msg=nothing_to_undo", status_code=303)
        event_id = outcome.label.event_id
        svc.store.claim(event_id, user.username, now, svc.lease_ms)
        msg = "undone_sent" if outcome.already_sent else "undone_unsent"
        return RedirectResponse(item_url(event_id, filters, request, msg), status_code=303)

    @router.post("/review/{event_id}/explain")
    async def explain(event_id: str, request: Request, user: User = Depends(current_user), form: FormData = Depends(csrf_form)) -> Response:
        svc = services(request)
        item = svc.store.item(event_id, svc.clock_ms())
        if item is None:
            raise HTTPException(status_code=404, detail="no item with this event_id")
        verdict = item.verdict
        if _analysis(svc, verdict)[0]:
            return RedirectResponse(item_url(event_id, form_filters(request, form), request), status_code=303)
        pair = (verdict["text"], "") if verdict["role"] == "user" else (verdict["question"] or "", verdict["text"])
        try:
            analysis = await run_in_threadpool(svc.explainer.explain, *pair)
        except ExplanationUnavailable as exc:
            svc.store.record_action(user.username, "explain_failed", svc.clock_ms(), event_id, client_ip(request), {"reason": str(exc)})
            return render_item(request, user, event_id, 200, explain_error=str(exc))
        svc.store.save_explanation(event_id, analysis, user.username, svc.clock_ms())
        svc.store.record_action(user.username, "explain", svc.clock_ms(), event_id, client_ip(request))
        return RedirectResponse(item_url(event_id, form_filters(request, form), request), status_code=303)

    return router


def _analysis(svc: ReviewServices, verdict: dict[str, Any]) -> tuple[str | None, str, str]:
    """The analysis to show, where it came from, and why explain mode had none to give, if it said so.

    Verdict first, analysis after: the analysis loop's arrives moments after the verdict, so the
    page shows it without a click; a reviewer's own request is the fallback.
    """
    if verdict["analysis"]:
        return verdict["analysis"], "verdict", ""
    after = svc.store.analysis(verdict["event_id"])
    if after is not None and after["analysis"]:
        return after["analysis"], f"explain mode after the verdict, {after['model_name']} v{after['model_version']}", ""
    unavailable = (after["reason"] or "") if after is not None else ""
    return svc.store.explanation(verdict["event_id"]), "on demand", unavailable


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or "")
    except ValueError:
        return default


def _local(ms: int | None, request: Request) -> str:
    return format_local_time(ms, services(request).zone)
