"""The start page: finding a person by name, as one types.

``GET /app?q=`` is the whole page, results included (it works without JavaScript);
``GET /app/search?q=`` is only its results, which search.js asks for as one types.
Both show only the people the signed-in person may read (users.service.search_people).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from docmemo.auth.schemas import Identity
from docmemo.clinic.dependencies import SignedIn
from docmemo.clinic.templating import app_url, render
from docmemo.db.dependencies import DbConnection
from docmemo.db.models import Role
from docmemo.users import service as users
from docmemo.users.service import SearchResults

router = APIRouter()

PAGE_SIZE = 20


def status_line(results: SearchResults | None) -> str:
    """What the live region says (and a screen reader reads out) after a search."""
    if results is None:
        return ""
    shown = len(results.people)
    if results.found == 0:
        return "No one found."
    if results.found is None:
        return f"More than {shown} people found; the first {shown} are shown."
    people = "person" if results.found == 1 else "people"
    if results.found > shown:
        return f"{results.found} {people} found; the first {shown} are shown."
    return f"{results.found} {people} found."


def scope_line(viewer: Identity) -> str:
    """Whom this person's searches can find (users.service.can_read)."""
    if viewer.is_healthpro:
        return "You can find anyone in the registry."
    if viewer.status is Role.CAREGIVER:
        return "You can find yourself and the patients in your care."
    return "You can find only yourself."


async def _search(db: DbConnection, viewer: Identity, q: str) -> SearchResults | None:
    if not q.strip():
        return None
    return await users.search_people(db, viewer, q, limit=PAGE_SIZE)


def _context(request: Request, viewer: Identity, q: str, results: SearchResults | None) -> dict:
    return {
        "query": q,
        "results": results,
        "status": status_line(results),
        "scope": scope_line(viewer),
        # A name may hold spaces, apostrophes, any script: one path segment, encoded.
        "patient_url": lambda name: app_url(request, f"/patients/{quote(name, safe='')}"),
    }


@router.get("")
async def search_page(
    request: Request, viewer: SignedIn, db: DbConnection, q: str = ""
) -> Response:
    results = await _search(db, viewer, q)
    return render(request, "search.html", active="search", **_context(request, viewer, q, results))


@router.get("/search")
async def search_results(
    request: Request, viewer: SignedIn, db: DbConnection, q: str = ""
) -> Response:
    """The results alone (the script swaps them into the page)."""
    results = await _search(db, viewer, q)
    return render(request, "_search_results.html", **_context(request, viewer, q, results))
