"""Security headers on every answer: pages, JSON, errors, 404s and 500s alike.

A pure ASGI middleware, its headers built once: Starlette's BaseHTTPMiddleware
would cost every request a task and a stream. The app puts it outside Starlette's
own ServerErrorMiddleware (``web.app``) so that even an unexpected 500 carries them.

- ``X-Content-Type-Options: nosniff``: a browser never runs a JSON answer as a script.
- ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``: no page of ours in
  another site's frame (clickjacking).
- ``Content-Security-Policy``: JSON answers need nothing, so ``default-src 'none'``;
  the Swagger UI page at /docs gets this origin's files (Swagger UI is shipped in the
  package: no CDN) and the hash of its one inline script; the web app's pages under
  /app get this origin's own files and nothing inline
  (``WEB_APP_CONTENT_SECURITY_POLICY``).
- ``Referrer-Policy: no-referrer``: a link followed from the docs page does not tell
  the next site which URL (with a patient's name in it) it came from.
- ``Cache-Control: no-store`` on every answer: nearly every one can carry personal
  data (a record, a login's token, /status's identity, every error about a
  named patient), and a rule with no exceptions cannot forget a new endpoint. A
  route that sets its own header of one of these names keeps it: the web app's
  static files (docmemo.clinic) say ``no-cache``, kept and revalidated by ETag.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Headers = list[tuple[bytes, bytes]]

API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
# The web app (docmemo.clinic) ships every script, style sheet and image in the package,
# and has no inline script or style attribute: a stored name like
# "<script>..." could not run even if a template forgot to escape it.
WEB_APP_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)

# Inline <script> elements (no attributes: those with src= come from 'self').
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_content_security_policy(page: bytes) -> str:
    """The policy of the docs page: Swagger UI's files from this origin (shipped in the
    package, web.app), the hashes of its inline scripts, images from this origin and
    ``data:`` (the stylesheet's icons), and requests to this origin only (the OpenAPI
    document, "Try it out"). Swagger UI's online validator badge stays blocked: it
    would send the schema's URL to a third party."""
    script_hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' {script_hashes}".rstrip(),
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def _common_headers() -> Headers:
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-store"),
    ]


def _merged(own: Headers, added: Headers) -> Headers:
    """The answer's headers plus ``added``, except those it sets itself."""
    if not own:
        return list(added)
    names = {name for name, _ in own}
    return [*own, *(header for header in added if header[0] not in names)]


class SecurityHeaders:
    def __init__(
        self, app: ASGIApp, docs_path: str | None = "/docs", web_app_prefix: str | None = None
    ) -> None:
        self.app = app
        self.docs_path = docs_path
        self.web_app_prefix = web_app_prefix
        self.common = _common_headers()
        self.api = [
            *self.common,
            (b"content-security-policy", API_CONTENT_SECURITY_POLICY.encode()),
        ]
        self.web_app = [
            *self.common,
            (b"content-security-policy", WEB_APP_CONTENT_SECURITY_POLICY.encode()),
        ]

    def _is_web_app(self, path: str) -> bool:
        prefix = self.web_app_prefix
        return prefix is not None and (path == prefix or path.startswith(prefix + "/"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.docs_path:
            await self._docs_page(scope, receive, send)
            return
        added = self.web_app if self._is_web_app(scope["path"]) else self.api

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _merged(list(message.get("headers", ())), added)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The docs page is held until complete (a few kB) to hash its inline script:
        the script names the OpenAPI URL, which depends on the proxy's root path. Not
        a hot path."""
        start: Message = {}
        chunks: list[bytes] = []

        async def send_when_complete(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            page = b"".join(chunks)
            policy = docs_content_security_policy(page).encode()
            start["headers"] = _merged(
                list(start.get("headers", ())),
                [*self.common, (b"content-security-policy", policy)],
            )
            await send(start)
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, send_when_complete)
