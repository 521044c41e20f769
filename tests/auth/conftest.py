"""Fixtures of the auth tests.

Every test here starts with no failed login counted against any client address:
the suite logs in (and fails to) from one address far more often than a clinic
would within the per-address window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from docmemo.config import Settings
from docmemo.web.app import create_app


@pytest.fixture(autouse=True)
def _forget_address_failures(sync_engine: Engine) -> None:
    with sync_engine.begin() as conn:
        conn.execute(text("DELETE FROM login_address_throttle"))


@asynccontextmanager
async def running_app(settings: Settings, **changes: object) -> AsyncIterator[FastAPI]:
    """An app of its own (another API process, as far as memory goes) with `changes`
    to the tests' settings, on the same database."""
    app = create_app(settings.model_copy(update=changes))
    async with app.router.lifespan_context(app):
        yield app


def http_client(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client of `app` calling from `address`, keeping cookies like a browser."""
    transport = httpx.ASGITransport(app=app, client=(address, 50_000))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")
