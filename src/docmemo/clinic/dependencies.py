"""Who is looking at a page, and the rules every form of the web app obeys."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from docmemo.auth.dependencies import MaybeUser
from docmemo.auth.schemas import Identity
from docmemo.errors import Forbidden, NotAuthenticated

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def page_viewer(request: Request, viewer: MaybeUser) -> Identity | None:
    """The signed-in person (the API's own session cookie), kept for the page's header
    and its error page. The look-up is coalesced and holds none of the request's
    connections: a page may then hash a password (sign-in, a new account)."""
    request.state.viewer = viewer
    return viewer


Viewer = Annotated[Identity | None, Depends(page_viewer)]


async def signed_in_viewer(viewer: Viewer) -> Identity:
    if viewer is None:
        # Answered by the sign-in page, which comes back here (templating.error_page).
        raise NotAuthenticated("Please sign in to see this page")
    return viewer


SignedIn = Annotated[Identity, Depends(signed_in_viewer)]


async def refuse_cross_site_forms(request: Request) -> None:
    """A form posted from another site is refused (cross-site request forgery). The
    session cookie is SameSite=Lax, which already keeps it off such a post; this
    also covers signing in, and browsers that ignore SameSite. Browsers send
    Sec-Fetch-Site (all current ones) or at least Origin on every POST."""
    if request.method in _SAFE_METHODS:
        return
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site not in ("same-origin", "none"):
            raise Forbidden("Forms of this app can only be sent from its own pages")
        return
    origin = request.headers.get("origin")
    own_origin = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own_origin:
        raise Forbidden("Forms of this app can only be sent from its own pages")
