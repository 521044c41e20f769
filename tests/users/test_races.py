"""Concurrent creations of one name (issue 5, item 2): exactly one wins.

Fifty requests for the same name in fifty spellings of its case ("adRIEN",
"Adrien", ...) are sent at once to the real app, which runs them on its pool's
connections: their checks and inserts overlap in PostgreSQL, and only the unique
index on the name's key can keep a second one out. Half ask for a patient, half
for a caregiver, so that a loser's role row would show if it were written.
"""

from __future__ import annotations

import asyncio
import random
import uuid

from sqlalchemy import Engine, text

from docmemo.users.names import name_key

CONCURRENT_CREATIONS = 50


def case_variants(name: str, count: int) -> list[str]:
    """`count` spellings of `name` that differ only in case, the plain ones first."""
    variants = [name.lower(), name.upper(), name.title(), name.swapcase()]
    rng = random.Random(name)
    while len(set(variants)) < count:
        variants.append("".join(rng.choice((c.lower(), c.upper())) for c in name))
    return list(dict.fromkeys(variants))[:count]


def _rows_of(engine: Engine, name: str) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            table: conn.execute(
                text(f"SELECT user_id, name FROM {table} WHERE name_key(name) = name_key(:n)"),
                {"n": name},
            ).all()
            for table in ("users", "patients", "caregivers", "healthpros")
        }


async def test_fifty_concurrent_creations_of_one_name_in_mixed_case_give_one_user(
    client, sync_engine
):
    names = case_variants(f"adrien {uuid.uuid4().hex[:6]}", CONCURRENT_CREATIONS)
    assert len({name_key(name) for name in names}) == 1 and len(set(names)) == len(names)
    roles = [
        {"status": "patient", "age": 80, "mmse": 20} if i % 2 else {"status": "caregiver"}
        for i in range(len(names))
    ]

    answers = await asyncio.gather(
        *(
            client.post(f"/create_user/{name}", params={**role, "password": f"Pw-{i}"})
            for i, (name, role) in enumerate(zip(names, roles, strict=True))
        )
    )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * (len(names) - 1), [a.text for a in answers]
    (created,) = (answer.json() for answer in answers if answer.status_code == 201)
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json() == {"detail": "This name is already taken (names ignore case)"}

    rows = _rows_of(sync_engine, names[0])
    winner = (created["user_id"], created["name"])
    role_table = {"patient": "patients", "caregiver": "caregivers"}[created["status"]]
    assert rows == {
        "users": [winner],
        "patients": [winner] if role_table == "patients" else [],
        "caregivers": [winner] if role_table == "caregivers" else [],
        "healthpros": [],
    }
    with sync_engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM users WHERE user_id = :id"), {"id": created["user_id"]}
        ).scalar_one()
    assert status == created["status"]
