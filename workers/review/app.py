"""The FastAPI application of the review web app, assembled from its services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from workers.review import routes_admin, routes_auth, routes_queue
from workers.review.request_guard import RequestFieldGuard
from workers.review.security import LoginRequired, SecurityHeadersMiddleware, current_user
from workers.review.services import ReviewServices
from workers.review.views import STATIC_DIR, Renderer


def create_app(svc: ReviewServices) -> FastAPI:
    """The app; the relay (if any) runs from start-up to shutdown."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if svc.relay is not None:
            svc.relay.start()
        try:
            yield
        finally:
            if svc.relay is not None:
                svc.relay.stop()

    app = FastAPI(title="guardstream review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.services = svc
    renderer = Renderer()
    app.add_middleware(RequestFieldGuard)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(svc.settings.allowed_hosts))
    # Here, not in the server: whatever serves the app, only the configured proxies are believed.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=[str(net) for net in svc.settings.trusted_proxies])
    app.add_middleware(SecurityHeadersMiddleware)  # added last: outermost, so it covers every answer
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (routes_auth, routes_queue, routes_admin):
        app.include_router(module.build_router(renderer))

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _: LoginRequired) -> Response:
        target = request.url.path if request.method == "GET" else "/queue"
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(HTTPException)
    async def error_page(request: Request, exc: HTTPException) -> Response:
        try:
            user = current_user(request)
        except LoginRequired:
            user = None
        return renderer.page(request, "error.html", user, exc.status_code, code=exc.status_code, detail=str(exc.detail))

    return app
