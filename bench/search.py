"""Searching names on a big registry: the time of ``users.service.search_people``.

``DATABASE_URL=... python -m bench.search`` runs each query of QUERIES many times, as a
health professional (who sees everyone) and as a caregiver (who sees a handful),
through the service function itself (its SQL, psycopg, one connection in autocommit
like the API's pool), and prints a Markdown table: median and 95th percentile in
milliseconds, and what the search found. It reads the registry, never writes.

Seed the registry first, in a database of its own:
``DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/docmemo_search_1m``
``docmemo migrate && docmemo seed --users 1000000 --no-fit``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import psycopg
from psycopg.rows import namedtuple_row

from docmemo.auth.schemas import Identity
from docmemo.config import Settings
from docmemo.db.engine import conninfo
from docmemo.db.models import Role, Specialty
from docmemo.users.service import search_people

# (what is typed, why it is in the list). Shares are those of the 1 M registry of
# seed 2024; their kind holds for any seed (Faker's first and last names).
QUERIES = [
    ("m", "one letter: the beginnings of names only"),
    ("ma", "two letters: the same"),
    ("mar", "the commonest trigram (5 % of names); hundreds of names begin with it"),
    ("ini", "common inside names (1.6 %), none begins with it"),
    ("mann", "a common surname ending (0.9 %)"),
    ("brien", "inside surnames (O'Brien): just over 500 names"),
    ("tolan", "a surname: about 250 names"),
    ("fabio tol", "the start of a whole name"),
    ("zyg", "no one"),
]


async def _viewers(db: psycopg.AsyncConnection) -> dict[str, Identity]:
    healthpro = await (
        await db.execute("SELECT user_id, name FROM healthpros ORDER BY user_id LIMIT 1")
    ).fetchone()
    caregiver = await (
        await db.execute(
            "SELECT c.user_id, c.name FROM caregivers c "
            "WHERE EXISTS (SELECT FROM patients p WHERE p.caregiver_id = c.user_id) "
            "ORDER BY c.user_id LIMIT 1"
        )
    ).fetchone()
    return {
        "healthpro": Identity(
            user_id=healthpro.user_id,
            name=healthpro.name,
            status=Role.HEALTHPRO,
            specialty=Specialty.GENERAL,
        ),
        "caregiver": Identity(
            user_id=caregiver.user_id, name=caregiver.name, status=Role.CAREGIVER
        ),
    }


def _describe(found: int | None, shown: int) -> str:
    if found is None:
        return f"{shown} shown, more match (not counted)"
    return f"{found} found" + (f", {shown} shown" if found > shown else "")


async def run(repeat: int) -> None:
    settings = Settings()
    async with await psycopg.AsyncConnection.connect(
        conninfo(settings), autocommit=True, row_factory=namedtuple_row
    ) as db:
        users = (await (await db.execute("SELECT count(*) AS n FROM users")).fetchone()).n
        viewers = await _viewers(db)
        print(f"{users:,} users; {repeat} runs of each search after one warm-up run\n")
        print("| query | viewer | median ms | p95 ms | result | why this query |")
        print("|---|---|---:|---:|---|---|")
        for query, why in QUERIES:
            for role, viewer in viewers.items():
                result = await search_people(db, viewer, query)  # warm-up
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    result = await search_people(db, viewer, query)
                    times.append((time.perf_counter() - started) * 1000)
                times.sort()
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                print(
                    f"| `{query}` | {role} | {statistics.median(times):.1f} | {p95:.1f} "
                    f"| {_describe(result.found, len(result.people))} | {why} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.repeat))


if __name__ == "__main__":
    main()
