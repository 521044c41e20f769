"""The start page: finding a patient by name."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from docmemo.clinic.dependencies import SignedIn
from docmemo.clinic.templating import render

router = APIRouter()


@router.get("")
async def search_page(request: Request, viewer: SignedIn) -> Response:
    return render(request, "search.html", active="search")
