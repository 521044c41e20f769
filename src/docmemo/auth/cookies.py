"""The session cookie: set at login, cleared at logout, by the API and the web app alike."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from fastapi import Request, Response

from docmemo.config import Settings


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_is_secure(request: Request, settings: Settings) -> bool:
    """Secure unless configured otherwise or talking plain HTTP to this machine."""
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return request.url.scheme == "https" or not is_loopback_host(request.url.hostname)


def _cookie_attributes(request: Request, settings: Settings) -> dict[str, Any]:
    """What the session cookie is set with, and cleared with: a browser only replaces
    a cookie of the same name, path and domain."""
    return {
        "path": "/",
        "httponly": True,
        "samesite": "lax",
        "secure": cookie_is_secure(request, settings),
    }


def set_session_cookie(
    request: Request, response: Response, settings: Settings, token: str, expires_at: datetime
) -> None:
    response.set_cookie(
        settings.session_cookie_name,
        token,
        max_age=settings.session_lifetime_s,
        expires=expires_at,
        **_cookie_attributes(request, settings),
    )


def clear_session_cookie(request: Request, response: Response, settings: Settings) -> None:
    response.delete_cookie(settings.session_cookie_name, **_cookie_attributes(request, settings))
