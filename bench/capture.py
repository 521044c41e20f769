"""The SQL an endpoint really runs, captured from the application itself.

The pgbench ceiling must run the endpoint's own statements, and those change as
the service is optimised. Rather than copying SQL text here, the real application
(``docmemo.web.app.create_app``) answers each request of the mix in this process,
through a minimal ASGI call, while every statement is recorded with its parameters:
those psycopg's ``AsyncCursor.execute`` sends (``AsyncConnection.execute`` goes
through it), and those of any SQLAlchemy engine (``before_cursor_execute``).
Whatever the routes, dependencies and services execute today is what pgbench
replays.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Statement:
    """A statement in psycopg's syntax: %(name)s or %s placeholders (or %b, %t), %% for
    a literal %; ``params`` a mapping for the former, a sequence for the latter."""

    sql: str
    params: dict[str, Any] | list[Any]


@dataclass
class Trace:
    """The statements of one request, in order, and the answer's status."""

    method: str
    path: str
    status: int = 0
    statements: list[Statement] = field(default_factory=list)


def _params(params: Any) -> dict[str, Any] | list[Any]:
    if params is None:
        return {}
    if isinstance(params, dict):
        return dict(params)
    return list(params)


class _Recorder:
    def __init__(self) -> None:
        self.current: list[Statement] | None = None

    def add(self, query: str, params: Any) -> None:
        if self.current is not None:
            self.current.append(Statement(query, _params(params)))

    def sqlalchemy_listener(
        self, _conn, _cursor, statement, parameters, _context, executemany
    ) -> None:
        self.add(statement, None if executemany else parameters)


@contextmanager
def _recording(recorder: _Recorder) -> Iterator[None]:
    """Record what psycopg's async cursors and SQLAlchemy's engines execute."""
    original = psycopg.AsyncCursor.execute

    async def execute(cursor: psycopg.AsyncCursor, query: Any, params: Any = None, **kwargs):
        text = query
        if isinstance(query, sql.Composable):
            text = query.as_string(cursor.connection)
        elif isinstance(query, bytes):
            text = query.decode()
        recorder.add(str(text), params)
        return await original(cursor, query, params, **kwargs)

    psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]
    event.listen(Engine, "before_cursor_execute", recorder.sqlalchemy_listener)
    try:
        yield
    finally:
        psycopg.AsyncCursor.execute = original  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", recorder.sqlalchemy_listener)


async def _call(app: Any, method: str, path: str, headers: dict[str, str], body: str = "") -> int:
    """One HTTP request straight into the ASGI application; returns the status code."""
    raw_path, _, query = path.partition("?")
    header_list = [(b"host", b"127.0.0.1")] + [
        (name.lower().encode(), value.encode()) for name, value in headers.items()
    ]
    if body:
        header_list += [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body.encode())).encode()),
        ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": urllib.parse.unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": header_list,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent_body = False
    status = 0

    async def receive() -> dict:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body.encode(), "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the app answers
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _capture(
    settings: Any, requests: list[tuple[str, str]], headers: dict[str, str]
) -> list[Trace]:
    from docmemo.web.app import create_app

    app = create_app(settings)
    recorder = _Recorder()
    with _recording(recorder):
        async with app.router.lifespan_context(app):
            # The first connection runs the dialect's own queries: keep them out.
            for method, path in requests[:2]:
                await _call(app, method, path, headers)
            traces = []
            for method, path in requests:
                trace = Trace(method, path)
                recorder.current = trace.statements
                trace.status = await _call(app, method, path, headers)
                recorder.current = None
                traces.append(trace)
            return traces


def capture_statements(
    settings: Any, requests: list[tuple[str, str]], headers: dict[str, str] | None = None
) -> list[Trace]:
    """Answer each (method, path) with the real application; the statements of each."""
    return asyncio.run(_capture(settings, requests, headers or {}))
