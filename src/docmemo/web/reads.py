"""The app's coalesced reads (``db.coalescing``): the requests every dashboard and
every signed-in page make most, each answered in batches by one statement."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from docmemo.auth import service as auth_service
from docmemo.auth.schemas import Identity
from docmemo.config import Settings
from docmemo.db.coalescing import Coalescer, one_answer
from docmemo.stats import service as stats_service
from docmemo.stats.schemas import RegistryCounts
from docmemo.users import service as users_service


@dataclass(frozen=True)
class CoalescedReads:
    patient_counts: Coalescer[stats_service.CountQuery, int]
    """/count_over and /count_under."""
    registry_counts: Coalescer[None, RegistryCounts]
    """/status's numbers of users."""
    identities: Coalescer[str, Identity | None]
    """Who holds a session token: every signed-in request."""
    records: Coalescer[users_service.RecordRead, users_service.RecordAnswer]
    """/get_user_by_name's audited read, with its session look-up."""

    @classmethod
    def using(cls, pool: AsyncConnectionPool, settings: Settings) -> CoalescedReads:
        return cls(
            patient_counts=Coalescer(pool, stats_service.count_many, name="patient counts"),
            registry_counts=Coalescer(
                pool, one_answer(stats_service.registry_counts), name="registry counts"
            ),
            identities=Coalescer(
                pool,
                partial(auth_service.identities_for_tokens, settings=settings),
                name="session identities",
            ),
            # One audit row per request, even for identical reads (users.service.RecordRead).
            records=Coalescer(
                pool,
                partial(users_service.read_records, settings=settings),
                name="record reads",
                deduplicate=False,
            ),
        )

    async def aclose(self) -> None:
        for field in fields(self):
            await getattr(self, field.name).aclose()


# One connection for each coalescer: each has at most one statement in flight.
COALESCED_READ_CONNECTIONS = len(fields(CoalescedReads))


def reads_of(request: Request) -> CoalescedReads:
    """The app's coalesced reads. The busiest routes call this rather than take the
    ``Reads`` dependency: each dependency FastAPI resolves costs about 10 µs of a
    request (docs/BENCHMARKS.md, "Dependencies on the busiest routes")."""
    return request.app.state.reads


async def get_reads(request: Request) -> CoalescedReads:
    return reads_of(request)


Reads = Annotated[CoalescedReads, Depends(get_reads)]
