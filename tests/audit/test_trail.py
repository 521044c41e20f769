"""GET /patients/{name}/audit: who may read a patient's trail, and what it shows."""

from __future__ import annotations

import pytest

from docmemo.audit.service import AUDIT_FAILED
from tests.audit.conftest import (
    REMOTE_ADDRESS,
    audit_row,
    audit_rows,
    failing_audit_inserts,
)
from tests.helpers import login, unique_name


def trail_url(name: str) -> str:
    return f"/patients/{name}/audit"


async def test_anonymous_callers_must_log_in(remote_client, family, sync_engine):
    patient = family["patient"]
    response = await remote_client.get(trail_url(patient.name))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert audit_rows(sync_engine, patient.user_id) == []


@pytest.mark.parametrize("who", ["patient", "carer", "psychologist"])
async def test_other_roles_are_refused_and_the_attempt_is_filed(
    remote_client, family, sync_engine, who
):
    patient = family["patient"]
    await login(remote_client, family[who].name)
    response = await remote_client.get(trail_url(patient.name))
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only neurologists and general practitioners may read audit trails"
    }
    assert audit_rows(sync_engine, patient.user_id) == [
        audit_row(family[who].user_id, patient.user_id, "read_audit_trail", outcome="denied")
    ]
    # A name that is no patient's: the same 403, and nothing to file it under.
    assert (await remote_client.get(trail_url(unique_name("Nobody")))).status_code == 403


@pytest.mark.parametrize("who", ["general", "neurologist"])
async def test_neurologists_and_general_practitioners_read_it(
    remote_client, family, sync_engine, who
):
    reader, patient = family[who], family["patient"]
    await login(remote_client, reader.name)
    first = await remote_client.get(trail_url(patient.name.upper()))
    assert first.status_code == 200
    body = first.json()
    assert (body["patient"], body["patient_id"]) == (patient.name, patient.user_id)
    # The creation by the tests' founding health professional, from no address.
    assert [(e["action"], e["address"]) for e in body["events"]] == [("create_user", None)]
    assert body["next_before"] is None
    # Reading the trail is filed in it, and shows in the next reading.
    assert audit_rows(sync_engine, patient.user_id) == [
        audit_row(reader.user_id, patient.user_id, "read_audit_trail")
    ]
    again = (await remote_client.get(trail_url(patient.name))).json()
    newest = again["events"][0]
    assert newest == {
        "event_id": newest["event_id"],
        "occurred_at": newest["occurred_at"],
        "actor_id": reader.user_id,
        "actor_name": reader.name,
        "action": "read_audit_trail",
        "outcome": "allowed",
        "address": REMOTE_ADDRESS,
    }


async def test_unknown_names_and_non_patients_are_not_found(remote_client, family):
    await login(remote_client, family["neurologist"].name)
    for name in (unique_name("Nobody"), family["carer"].name, family["general"].name):
        response = await remote_client.get(trail_url(name))
        assert response.status_code == 404
        assert response.json() == {"detail": "No such patient"}


async def test_the_trail_is_newest_first_one_page_at_a_time(remote_client, family):
    reader, patient = family["general"], family["lonely_patient"]
    await login(remote_client, reader.name)
    for _ in range(4):
        assert (await remote_client.get(f"/get_user_by_name/{patient.name}")).status_code == 200
    # Now: the creation, then four reads.
    everything = (await remote_client.get(trail_url(patient.name), params={"limit": 500})).json()
    ids = [event["event_id"] for event in everything["events"]]
    assert [event["action"] for event in everything["events"]] == ["read_record"] * 4 + [
        "create_user"
    ]
    assert ids == sorted(ids, reverse=True)

    pages, before = [], None
    while True:
        params = {"limit": 2, **({"before": before} if before else {})}
        page = (await remote_client.get(trail_url(patient.name), params=params)).json()
        pages.append([event["event_id"] for event in page["events"]])
        before = page["next_before"]
        if before is None:
            break
        assert before == page["events"][-1]["event_id"]
    # Each page's reading is filed after the first page, so the pages below the
    # first reading hold exactly the events that existed then.
    assert [event_id for page in pages for event_id in page if event_id <= ids[0]] == ids
    assert all(len(page) <= 2 for page in pages)


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 501}, {"before": 0}, {"limit": "many"}, {"page": 2}],
)
async def test_paging_parameters_are_bounded(remote_client, family, params):
    await login(remote_client, family["neurologist"].name)
    response = await remote_client.get(trail_url(family["patient"].name), params=params)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


async def test_a_reading_whose_audit_row_fails_shows_nothing(remote_client, family, sync_engine):
    patient = family["patient"]
    await login(remote_client, family["neurologist"].name)
    with failing_audit_inserts(sync_engine, f"NEW.subject_id = '{patient.user_id}'"):
        response = await remote_client.get(trail_url(patient.name))
    assert response.status_code == 503
    assert response.json() == {"detail": AUDIT_FAILED}
    assert audit_rows(sync_engine, patient.user_id) == []
