"""All the pages of the web app under /app (outside the OpenAPI document: they answer
HTML to people, not JSON to programs)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from docmemo.clinic.dependencies import refuse_cross_site_forms
from docmemo.clinic.routers import cohort, patients, people, search, sessions
from docmemo.clinic.templating import WEB_APP_PREFIX

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_forms)])
for page in (sessions, search, patients, cohort, people):
    # The prefix here, not on `router`: the start page is the prefix itself, "/app".
    router.include_router(page.router, prefix=WEB_APP_PREFIX)
