"""Placeholder: its page is being written (issue 7)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
