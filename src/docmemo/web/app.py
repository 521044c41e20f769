"""The FastAPI application."""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp

from docmemo import __version__
from docmemo.assessments.router import router as assessments_router
from docmemo.audit.router import router as audit_router
from docmemo.auth.router import router as auth_router
from docmemo.clinic.router import router as clinic_router
from docmemo.clinic.templating import STATIC_PATH, WEB_APP_PREFIX, StaticAssets, error_page
from docmemo.config import Settings, get_settings
from docmemo.db.engine import make_pool
from docmemo.db.migrate import head_revision, known_revisions
from docmemo.prediction.router import router as prediction_router
from docmemo.stats.router import router as stats_router
from docmemo.users.router import router as users_router
from docmemo.web.errors import ErrorPages, install_error_handlers
from docmemo.web.headers import SecurityHeaders
from docmemo.web.reads import COALESCED_READ_CONNECTIONS, CoalescedReads
from docmemo.web.router import SERVICE_NAME
from docmemo.web.router import router as service_router
from docmemo.web.schemas import error_responses

DOCS_PATH = "/docs"
# Swagger UI's files, shipped in the package and served with the web app's own
# (clinic/static/swagger-ui/README.md says where they come from).
SWAGGER_UI_PATH = f"{STATIC_PATH}/swagger-ui"
# The README's pictures, as Markdown or HTML, with their text alternative if any.
_PICTURE = re.compile(r'!\[([^\]]*)\]\([^)]*\)|<img\b(?:[^>]*?\balt="([^"]*)")?[^>]*>')


def readme_text() -> str:
    """The README, shown on /docs: from the source tree, else from the package metadata."""
    source_readme = Path(__file__).resolve().parents[3] / "README.md"
    if source_readme.is_file():
        return source_readme.read_text(encoding="utf-8")
    try:
        return metadata("docmemo").get_payload() or ""  # type: ignore[attr-defined]
    except PackageNotFoundError:
        return ""


def without_pictures(markdown: str) -> str:
    """The README for /docs, each picture replaced by its text alternative: its
    screenshots are files of the repository, not of the package, and the docs page
    loads nothing from anywhere else (the clinic may be offline)."""
    return _PICTURE.sub(lambda picture: picture[1] or picture[2] or "", markdown)


# Python collects its youngest objects every 700 allocations by default: several
# times a request. Requests free what they allocate by reference counting, so a
# collection finds little; every 50,000 it costs less in all (docs/BENCHMARKS.md).
YOUNGEST_GENERATION_THRESHOLD = 50_000


def settle_garbage_collection() -> None:
    """Once the app is built: what exists now (the modules, the app, its routes and
    schemas: hundreds of thousands of objects that live as long as the process) is
    put out of the collector's sight, so that a full collection no longer walks it,
    pausing every request in flight for tens of milliseconds; and the youngest
    objects are collected less often."""
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNGEST_GENERATION_THRESHOLD, middle, oldest)


class DocmemoApp(FastAPI):
    """FastAPI with the security headers as its outermost layer, outside Starlette's
    ServerErrorMiddleware, so that even an unexpected 500 carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(
            super().build_middleware_stack(),
            docs_path=DOCS_PATH,
            web_app_prefix=WEB_APP_PREFIX,
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = make_pool(settings)
        coalesced_pool = make_pool(
            settings, size=COALESCED_READ_CONNECTIONS, name="docmemo-coalesced"
        )
        # Not waiting: the API starts (and answers 503) while the database is down.
        await pool.open(wait=False)
        await coalesced_pool.open(wait=False)
        app.state.pool = pool
        app.state.reads = CoalescedReads.using(coalesced_pool, settings)
        settle_garbage_collection()
        try:
            yield
        finally:
            await app.state.reads.aclose()
            await coalesced_pool.close()
            await pool.close()

    app = DocmemoApp(
        title=SERVICE_NAME,
        version=__version__,
        description=without_pictures(readme_text()),
        lifespan=lifespan,
        # Only the Swagger UI page (add_docs_page), under its content security policy
        # (web.headers): ReDoc would need inline styles, workers and Google Fonts, and
        # the OAuth2 redirect page serves a login flow this API does not have.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        responses=error_responses(
            # FastAPI's answer to a body it cannot decode (not UTF-8, a broken form).
            e400="The request body could not be read",
            e422="Invalid parameters",
            e503="The database is unavailable; try again shortly",
        ),
    )
    app.state.settings = settings
    app.state.schema_head = head_revision()
    app.state.known_revisions = known_revisions()
    install_error_handlers(app, ErrorPages(WEB_APP_PREFIX, error_page))
    # Routes are matched in order: the busiest (the dashboards' counts, /status, the
    # look-ups by name) first. No two routers' paths overlap.
    for router in (
        stats_router,
        service_router,
        users_router,
        auth_router,
        assessments_router,
        audit_router,
        prediction_router,
        clinic_router,
    ):
        app.include_router(router)
    app.mount(STATIC_PATH, StaticAssets(), name="clinic_static")
    add_docs_page(app)
    return app


def add_docs_page(app: FastAPI) -> None:
    """FastAPI's Swagger UI page, loading the files shipped in the package rather than
    FastAPI's default CDN: the clinic may be offline, and the page's policy allows
    this origin only."""

    async def docs_page(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "").rstrip("/")
        assets = f"{root_path}{SWAGGER_UI_PATH}"
        return get_swagger_ui_html(
            openapi_url=f"{root_path}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{root_path}{STATIC_PATH}/icon.svg",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    # A plain route, as FastAPI adds its own: GET and HEAD, outside the OpenAPI document.
    app.add_route(DOCS_PATH, docs_page, include_in_schema=False)
