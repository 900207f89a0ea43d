"""The queue and the item page: open, label, skip, undo, explain. Every write is a CSRF-checked POST."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from guardstream.guard.categories import HarmCategory
from guardstream.policy import FLAGGED_LABELS
from guardstream.records import FeedbackLabel
from workers.review.auth import User
from workers.review.display import PARTS, chunks, excerpt, excerpt_turns, whole_field
from workers.review.explain import ExplanationUnavailable
from workers.review.filters import format_local_time, parse_filters, to_query
from workers.review.item_ids import item_event_id, to_segment
from workers.review.queue import LabelOutcome, QueueFilters, QueueItem
from workers.review.request_guard import any_control
from workers.review.security import client_ip, csrf_form, current_user, services
from workers.review.services import ReviewServices
from workers.review.text_safety import warnings
from workers.review.views import Renderer

MAX_NOTE_CHARS = 2000


def posted_filters(request: Request, form: FormData = Depends(csrf_form)) -> QueueFilters:
    """Filters travel with POSTs as the ``filters`` field (a query string we wrote), checked
    before the route does anything: the guard saw the field, not the values inside it."""
    params = parse_qsl(str(form.get("filters") or ""))
    if any_control(key + value for key, value in params):
        raise HTTPException(status_code=400, detail="Control characters are not accepted in the filters.")
    return parse_filters(dict(params), services(request).zone)


def flagged_item(request: Request, event_id: str) -> QueueItem:
    svc = services(request)
    item = svc.queue.item(event_id, svc.clock_ms())
    if item is None or item.verdict["label"] not in FLAGGED_LABELS:
        raise HTTPException(status_code=404, detail="no flagged item with this event_id")
    return item


def build_router(renderer: Renderer) -> APIRouter:
    router = APIRouter()

    def item_url(event_id: str, filters: QueueFilters, request: Request, msg: str = "") -> str:
        query = to_query(filters, services(request).zone)
        if msg:
            query = f"{query}&msg={msg}" if query else f"msg={msg}"
        return f"/review/{to_segment(event_id)}" + (f"?{query}" if query else "")

    def go_next(request: Request, user: User, filters: QueueFilters, msg: str) -> Response:
        svc = services(request)
        now = svc.clock_ms()
        skipped = svc.trail.skipped_by(user.username, now - svc.settings.skip_memory_s * 1000)
        event_id = svc.queue.claim_next(filters, user.username, now, svc.lease_ms, skipped)
        if event_id is None:
            query = to_query(filters, svc.zone)
            return RedirectResponse(f"/queue?{query + '&' if query else ''}msg=empty", status_code=303)
        svc.trail.record_action(user.username, "open", now, event_id, client_ip(request))
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
            request,
            "queue.html",
            user,
            items=svc.queue.items(filters, now, size, page * size),
            total=svc.queue.count(filters, now),
            page=page,
            page_size=size,
            filters=filters,
            query=to_query(filters, svc.zone),
            model_versions=svc.queue.model_versions(),
            flagged_labels=FLAGGED_LABELS,
            since=_local(filters.since_ms, request),
            until=_local(filters.until_ms, request),
        )

    @router.post("/review/next")
    def review_next(
        request: Request, user: User = Depends(current_user), filters: QueueFilters = Depends(posted_filters)
    ) -> Response:
        return go_next(request, user, filters, "")

    @router.get("/review/{segment}")
    def item_page(
        request: Request, user: User = Depends(current_user), event_id: str = Depends(item_event_id)
    ) -> Response:
        return render_item(request, user, event_id)

    def render_item(
        request: Request, user: User, event_id: str, status: int = 200, explain_error: str = ""
    ) -> Response:
        svc = services(request)
        item = flagged_item(request, event_id)
        verdict = item.verdict
        analysis, analysis_source, unavailable = _analysis(svc, verdict)
        context = [str(line) for line in verdict["context"] or ()]
        filters = parse_filters(request.query_params, svc.zone)
        limit = svc.settings.display_max_chars
        return renderer.page(
            request,
            "item.html",
            user,
            status,
            item=item,
            verdict=verdict,
            analysis=analysis,
            analysis_source=analysis_source,
            explain_error=explain_error or unavailable,
            shown={
                "question": excerpt(verdict["question"], limit),
                "text": excerpt(verdict["text"], limit),
                "analysis": excerpt(analysis, limit),
                "context": excerpt_turns(context, limit),
            },
            conversation=svc.queue.conversation(verdict["conversation_id"], verdict["event_created_at_ms"]),
            revision=svc.queue.revision(event_id),
            warnings=warnings(verdict["question"], verdict["text"], analysis, *context),
            mine=item.lease_holder == user.username,
            filters_query=to_query(filters, svc.zone),
        )

    @router.get("/review/{segment}/full/{part}")
    def whole(
        part: str, request: Request, user: User = Depends(current_user), event_id: str = Depends(item_event_id)
    ) -> Response:
        """One field of an item, all of it, in blocks the browser lays out quickly."""
        if part not in PARTS:
            raise HTTPException(status_code=404, detail="no such part of an item")
        svc = services(request)
        verdict = flagged_item(request, event_id).verdict
        text = whole_field(verdict, verdict["analysis"] or svc.analyses.explanation(event_id), part)
        return renderer.page(
            request,
            "full.html",
            user,
            verdict=verdict,
            part=part,
            part_title=PARTS[part],
            total=len(text),
            chunks=chunks(text),
        )

    @router.post("/review/{segment}/claim")
    def claim(
        request: Request,
        user: User = Depends(current_user),
        event_id: str = Depends(item_event_id),
        filters: QueueFilters = Depends(posted_filters),
    ) -> Response:
        svc = services(request)
        flagged_item(request, event_id)
        now = svc.clock_ms()
        holder = svc.queue.claim(event_id, user.username, now, svc.lease_ms)
        if holder is None:
            raise HTTPException(status_code=404, detail="no item with this event_id")
        msg = "" if holder == user.username else "leased_by_other"
        svc.trail.record_action(user.username, "open" if not msg else "open_refused", now, event_id, client_ip(request))
        return RedirectResponse(item_url(event_id, filters, request, msg), status_code=303)

    @router.post("/review/{segment}/label")
    def label(
        request: Request,
        user: User = Depends(current_user),
        event_id: str = Depends(item_event_id),
        form: FormData = Depends(csrf_form),
        filters: QueueFilters = Depends(posted_filters),
    ) -> Response:
        svc = services(request)
        flagged_item(request, event_id)
        choice = str(form.get("label") or "")
        category = str(form.get("category") or "") or None
        note = str(form.get("note") or "").strip()[:MAX_NOTE_CHARS] or None
        revision = _int(str(form.get("revision") or ""), 0)
        if (
            choice not in {label.value for label in FeedbackLabel}
            or revision < 1
            or (category is not None and category not in {c.value for c in HarmCategory})
        ):
            return RedirectResponse(item_url(event_id, filters, request, "invalid_label"), status_code=303)
        now = svc.clock_ms()
        outcome = svc.queue.record_label(
            event_id, revision, user.username, FeedbackLabel(choice), category, note, now, client_ip(request)
        )
        if outcome in (LabelOutcome.RECORDED, LabelOutcome.DUPLICATE):
            return go_next(request, user, filters, "labelled")
        svc.trail.record_action(
            user.username, "label_rejected", now, event_id, client_ip(request), {"outcome": outcome.value}
        )
        return RedirectResponse(item_url(event_id, filters, request, outcome.value), status_code=303)

    @router.post("/review/{segment}/skip")
    def skip(
        request: Request,
        user: User = Depends(current_user),
        event_id: str = Depends(item_event_id),
        filters: QueueFilters = Depends(posted_filters),
    ) -> Response:
        svc = services(request)
        flagged_item(request, event_id)
        svc.queue.release(event_id, user.username)
        svc.trail.record_action(user.username, "skip", svc.clock_ms(), event_id, client_ip(request))
        return go_next(request, user, filters, "skipped")

    @router.post("/undo")
    def undo(
        request: Request, user: User = Depends(current_user), filters: QueueFilters = Depends(posted_filters)
    ) -> Response:
        svc = services(request)
        now = svc.clock_ms()
        outcome = svc.queue.undo_last(user.username, now, client_ip(request))
        if outcome is None:
            query = to_query(filters, svc.zone)
            return RedirectResponse(f"/queue?{query + '&' if query else ''}msg=nothing_to_undo", status_code=303)
        event_id = outcome.label.event_id
        svc.queue.claim(event_id, user.username, now, svc.lease_ms)
        msg = "undone_sent" if outcome.already_sent else "undone_unsent"
        return RedirectResponse(item_url(event_id, filters, request, msg), status_code=303)

    @router.post("/review/{segment}/explain")
    async def explain(
        request: Request,
        user: User = Depends(current_user),
        event_id: str = Depends(item_event_id),
        filters: QueueFilters = Depends(posted_filters),
    ) -> Response:
        svc = services(request)
        item = flagged_item(request, event_id)
        verdict = item.verdict
        if _analysis(svc, verdict)[0]:
            return RedirectResponse(item_url(event_id, filters, request), status_code=303)

        def refuse(reason: str, status: int, message: str) -> Response:
            svc.trail.record_action(
                user.username, "explain_refused", svc.clock_ms(), event_id, client_ip(request), {"reason": reason}
            )
            return render_item(request, user, event_id, status, explain_error=message)

        if item.lease_holder != user.username:
            return refuse("not_leased", 409, "take the item first: only the reviewer holding it may ask the model")
        wait = svc.explain_limiter.retry_after(user.username)
        if wait > 0:
            seconds = int(wait) + 1
            response = refuse("rate_limited", 429, f"too many explanation requests; try again in {seconds} s")
            response.headers["Retry-After"] = str(seconds)
            return response
        svc.explain_limiter.record(user.username)
        pair = (verdict["text"], "") if verdict["role"] == "user" else (verdict["question"] or "", verdict["text"])
        try:
            analysis = await run_in_threadpool(svc.explainer.explain, *pair)
        except ExplanationUnavailable as exc:
            svc.trail.record_action(
                user.username, "explain_failed", svc.clock_ms(), event_id, client_ip(request), {"reason": str(exc)}
            )
            return render_item(request, user, event_id, 200, explain_error=str(exc))
        svc.analyses.save_explanation(event_id, analysis, user.username, svc.clock_ms())
        svc.trail.record_action(user.username, "explain", svc.clock_ms(), event_id, client_ip(request))
        return RedirectResponse(item_url(event_id, filters, request), status_code=303)

    return router


def _analysis(svc: ReviewServices, verdict: dict[str, Any]) -> tuple[str | None, str, str]:
    """The analysis to show, where it came from, and why explain mode had none to give, if it said so.

    Verdict first, analysis after: the analysis loop's arrives moments after the verdict, so the
    page shows it without a click; a reviewer's own request is the fallback.
    """
    if verdict["analysis"]:
        return verdict["analysis"], "verdict", ""
    after = svc.analyses.analysis(verdict["event_id"])
    if after is not None and after["analysis"]:
        return after["analysis"], f"explain mode after the verdict, {after['model_name']} v{after['model_version']}", ""
    unavailable = (after["reason"] or "") if after is not None else ""
    return svc.analyses.explanation(verdict["event_id"]), "on demand", unavailable


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or "")
    except ValueError:
        return default


def _local(ms: int | None, request: Request) -> str:
    return format_local_time(ms, services(request).zone)
