"""Access rules as dependencies: each route names who may call it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from docmemo.auth.schemas import Identity
from docmemo.config import Settings
from docmemo.errors import Forbidden, NotAuthenticated
from docmemo.web.reads import Reads


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


AppSettings = Annotated[Settings, Depends(get_app_settings)]


def session_token_of(request: Request) -> str | None:
    """The session token from an 'Authorization: Bearer' header, or from the cookie.
    (A plain function for the busiest routes, as ``web.reads.reads_of``.)"""
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    settings: Settings = request.app.state.settings
    return request.cookies.get(settings.session_cookie_name) or None


async def session_token(request: Request) -> str | None:
    return session_token_of(request)


SessionToken = Annotated[str | None, Depends(session_token)]


async def optional_identity(reads: Reads, token: SessionToken) -> Identity | None:
    """Who holds the request's session token, if anyone. The look-up is coalesced with
    those of concurrent requests (``web.reads``) and holds none of the request's
    connections: a route that then hashes a password keeps no connection waiting."""
    if token is None:
        return None
    return await reads.identities(token)


MaybeUser = Annotated[Identity | None, Depends(optional_identity)]


def client_address_of(request: Request) -> str | None:
    """The client's address as the server saw it (behind a proxy, uvicorn takes it
    from X-Forwarded-For when the proxy is in FORWARDED_ALLOW_IPS, 127.0.0.1 by default)."""
    return request.client.host if request.client else None


async def client_address(request: Request) -> str | None:
    return client_address_of(request)


ClientAddress = Annotated[str | None, Depends(client_address)]


async def required_identity(identity: MaybeUser) -> Identity:
    if identity is None:
        raise NotAuthenticated()
    return identity


LoggedInUser = Annotated[Identity, Depends(required_identity)]


async def neurologist_identity(identity: LoggedInUser) -> Identity:
    if not identity.is_neurologist:
        raise Forbidden("Only neurologists may see predictions")
    return identity


Neurologist = Annotated[Identity, Depends(neurologist_identity)]
