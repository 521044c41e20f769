"""Reads of a patient's record and creations write exactly one audit row each, in
the same transaction as the answer (issue 5, item 4)."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from sqlalchemy import text

from docmemo.audit.service import AUDIT_FAILED
from docmemo.auth.schemas import Identity
from docmemo.errors import DatabaseUnavailable, NotFound
from docmemo.users import service
from tests.audit.conftest import (
    REMOTE_ADDRESS,
    audit_row,
    audit_rows,
    client_at,
    failing_audit_inserts,
)
from tests.helpers import PASSWORD, login, start_session, unique_name


def identity_of(record: service.UserRecord) -> Identity:
    return Identity(
        user_id=record.user_id, name=record.name, status=record.status, specialty=record.specialty
    )


@pytest.fixture
async def token_of(pool, family, settings) -> dict[str, str]:
    """A live session of each member of the family: their user id → its token."""
    return {
        person.user_id: await start_session(pool, person.user_id, settings)
        for person in family.values()
    }


def records_of(answers: list[service.RecordAnswer]) -> list[service.UserRecord | None]:
    assert all(answer.signed_in for answer in answers), answers
    return [answer.record for answer in answers]


async def test_reading_a_patients_record_files_one_row(remote_client, family, sync_engine):
    doctor, patient = family["psychologist"], family["patient"]
    await login(remote_client, doctor.name)
    response = await remote_client.get(f"/get_user_by_name/{patient.name.upper()}")
    assert response.status_code == 200
    assert audit_rows(sync_engine, patient.user_id) == [
        audit_row(doctor.user_id, patient.user_id, "read_record")
    ]


async def test_a_patient_reading_their_own_record_is_audited(remote_client, family, sync_engine):
    patient = family["patient"]
    await login(remote_client, patient.name)
    assert (await remote_client.get(f"/get_user_by_name/{patient.name}")).status_code == 200
    assert audit_rows(sync_engine, patient.user_id) == [
        audit_row(patient.user_id, patient.user_id, "read_record")
    ]


async def test_records_without_health_data_are_not_audited(remote_client, family, sync_engine):
    await login(remote_client, family["general"].name)
    for who in ("carer", "neurologist"):
        response = await remote_client.get(f"/get_user_by_name/{family[who].name}")
        assert response.status_code == 200
        assert audit_rows(sync_engine, family[who].user_id) == []


async def test_a_refused_read_is_filed_as_denied_and_answered_as_a_missing_name(
    remote_client, family, sync_engine
):
    intruder, patient = family["other_carer"], family["patient"]
    await login(remote_client, intruder.name)
    refused = await remote_client.get(f"/get_user_by_name/{patient.name}")
    missing = await remote_client.get(f"/get_user_by_name/{unique_name('Nobody')}")
    assert refused.status_code == missing.status_code == 404
    assert refused.json() == missing.json()
    assert audit_rows(sync_engine, patient.user_id) == [
        audit_row(intruder.user_id, patient.user_id, "read_record", outcome="denied")
    ]


async def test_anonymous_reads_reach_no_record_and_file_nothing(remote_client, family, sync_engine):
    """401 comes before any look-up: there is no actor, and no record was touched."""
    patient = family["patient"]
    assert (await remote_client.get(f"/get_user_by_name/{patient.name}")).status_code == 401
    assert audit_rows(sync_engine, patient.user_id) == []


async def test_the_audited_rule_is_can_read_for_every_pair_of_users(
    db, family, token_of, settings, sync_engine
):
    """read_record decides in SQL, in the statement that files the row; the rule is
    users.service.can_read, which the assessments use too. They must agree."""
    for viewer, record in itertools.product(family.values(), repeat=2):
        try:
            await service.read_record(
                db, token_of[viewer.user_id], record.name, settings, REMOTE_ADDRESS
            )
            shown = True
        except NotFound:
            shown = False
        assert shown == service.can_read(identity_of(viewer), record), (viewer, record)
    for patient in ("patient", "other_patient", "lonely_patient"):
        rows = audit_rows(sync_engine, family[patient].user_id)
        assert len(rows) == len(family)  # one per viewer, shown or refused
        assert {row["actor_id"] for row in rows if row["outcome"] == "allowed"} == {
            viewer.user_id
            for viewer in family.values()
            if service.can_read(identity_of(viewer), family[patient])
        }


def _address_of(viewer_number: int) -> str:
    return f"198.51.100.{viewer_number + 1}"


async def test_one_batch_of_every_pair_agrees_with_can_read_and_the_single_reads(
    db, family, token_of, settings, sync_engine
):
    """read_records, the batch that read_record wraps: every pair of users in ONE
    statement, each viewer from an address of its own. Each answer is can_read's, and
    each read of a patient files its own row, by its viewer, from its address, with its
    outcome: the rows the same reads one at a time file, in the same order."""
    pairs = [
        (number, viewer, record)
        for number, viewer in enumerate(family.values())
        for record in family.values()
    ]
    patients = [family[who] for who in ("patient", "other_patient", "lonely_patient")]
    for _, viewer, record in pairs:
        with contextlib.suppress(NotFound):
            await service.read_record(
                db, token_of[viewer.user_id], record.name, settings, REMOTE_ADDRESS
            )
    one_at_a_time = {
        patient.user_id: audit_rows(sync_engine, patient.user_id) for patient in patients
    }

    reads = [
        service.record_read(token_of[viewer.user_id], record.name, _address_of(number))
        for number, viewer, record in pairs
    ]
    answers = records_of(await service.read_records(db, reads, settings))

    assert [answer is not None for answer in answers] == [
        service.can_read(identity_of(viewer), record) for _, viewer, record in pairs
    ]
    assert [answer for answer in answers if answer is not None] == [
        record for _, viewer, record in pairs if service.can_read(identity_of(viewer), record)
    ]
    for patient in patients:
        batched = audit_rows(sync_engine, patient.user_id)[len(one_at_a_time[patient.user_id]) :]
        assert batched == [
            audit_row(
                viewer.user_id,
                patient.user_id,
                "read_record",
                outcome="allowed" if service.can_read(identity_of(viewer), patient) else "denied",
                address=_address_of(number),
            )
            for number, viewer, record in pairs
            if record is patient
        ]
        assert [row | {"address": None} for row in batched] == [
            row | {"address": None} for row in one_at_a_time[patient.user_id]
        ]


async def test_identical_reads_in_one_batch_file_one_row_each(
    db, family, token_of, settings, sync_engine
):
    """Two requests that read the same record are two disclosures, each with its row,
    whether or not they were answered by one statement."""
    doctor, carer, patient = family["neurologist"], family["other_carer"], family["patient"]
    read = service.record_read(token_of[doctor.user_id], patient.name, REMOTE_ADDRESS)
    refused = service.record_read(token_of[carer.user_id], patient.name, REMOTE_ADDRESS)
    answers = records_of(
        await service.read_records(db, [read, refused, read, refused, read], settings)
    )
    assert answers == [patient, None, patient, None, patient]
    allowed = audit_row(doctor.user_id, patient.user_id, "read_record")
    denied = audit_row(carer.user_id, patient.user_id, "read_record", outcome="denied")
    assert audit_rows(sync_engine, patient.user_id) == [allowed, denied, allowed, denied, allowed]


async def test_reads_of_names_nobody_has_and_of_non_patients_file_nothing(
    db, family, token_of, settings, sync_engine
):
    doctor = token_of[family["general"].user_id]
    reads = [
        service.record_read(doctor, unique_name("Nobody"), REMOTE_ADDRESS),
        service.record_read(doctor, family["carer"].name, REMOTE_ADDRESS),
        service.record_read(doctor, family["psychologist"].name, REMOTE_ADDRESS),
    ]
    assert records_of(await service.read_records(db, reads, settings)) == [
        None,
        family["carer"],
        family["psychologist"],
    ]
    for who in ("carer", "psychologist"):
        assert audit_rows(sync_engine, family[who].user_id) == []


async def test_a_batch_with_an_audit_row_that_fails_answers_nothing_and_files_nothing(
    db, family, token_of, settings, sync_engine
):
    """The batch is one transaction: one read's row that cannot be written refuses the
    whole batch (the same 503 for each of its requests), other patients' rows included."""
    doctor, patient, other = family["neurologist"], family["patient"], family["other_patient"]
    reads = [
        service.record_read(token_of[doctor.user_id], name, REMOTE_ADDRESS)
        for name in (other.name, family["carer"].name, patient.name)
    ]
    with (
        failing_audit_inserts(sync_engine, f"NEW.subject_id = '{patient.user_id}'"),
        pytest.raises(DatabaseUnavailable) as refused,
    ):
        await service.read_records(db, reads, settings)
    assert refused.value.detail == AUDIT_FAILED
    assert audit_rows(sync_engine, patient.user_id) == []
    assert audit_rows(sync_engine, other.user_id) == []
    # The same batch once the trail can be written again.
    assert records_of(await service.read_records(db, reads, settings)) == [
        other,
        family["carer"],
        patient,
    ]


async def test_a_read_whose_audit_row_fails_shows_nothing(remote_client, family, sync_engine):
    doctor, patient = family["neurologist"], family["patient"]
    await login(remote_client, doctor.name)
    with failing_audit_inserts(sync_engine, f"NEW.subject_id = '{patient.user_id}'"):
        response = await remote_client.get(f"/get_user_by_name/{patient.name}")
    assert response.status_code == 503
    assert response.json() == {"detail": AUDIT_FAILED}
    assert audit_rows(sync_engine, patient.user_id) == []
    # The same read once the trail can be written again.
    assert (await remote_client.get(f"/get_user_by_name/{patient.name}")).status_code == 200


async def test_anonymous_creations_are_filed_without_an_actor(remote_client, sync_engine):
    created = await remote_client.post(
        f"/create_user/{unique_name('Patient')}",
        params={"status": "patient", "password": PASSWORD, "age": 80, "mmse": 25},
    )
    assert created.status_code == 201
    new_id = created.json()["user_id"]
    assert audit_rows(sync_engine, new_id, skip_creation=False) == [
        audit_row(None, new_id, "create_user")
    ]


async def test_a_health_professionals_creation_names_its_creator(
    remote_client, family, sync_engine
):
    creator = family["general"]
    await login(remote_client, creator.name)
    created = await remote_client.post(
        f"/create_user/{unique_name('Doctor')}",
        params={"status": "healthpro", "password": PASSWORD, "specialty": "neurologist"},
    )
    assert created.status_code == 201
    new_id = created.json()["user_id"]
    assert audit_rows(sync_engine, new_id, skip_creation=False) == [
        audit_row(creator.user_id, new_id, "create_user")
    ]


def _rows_from(sync_engine, address: str) -> int:
    with sync_engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM audit_events WHERE address = CAST(:a AS inet)"),
            {"a": address},
        ).scalar_one()


async def test_refused_creations_file_nothing(app, family, sync_engine):
    address = "198.51.100.23"
    async with client_at(app, address) as http:
        taken = await http.post(
            f"/create_user/{family['carer'].name.lower()}",
            params={"status": "caregiver", "password": PASSWORD},
        )
        forbidden = await http.post(
            f"/create_user/{unique_name('Doctor')}",
            params={"status": "healthpro", "password": PASSWORD, "specialty": "general"},
        )
    assert (taken.status_code, forbidden.status_code) == (409, 403)
    assert _rows_from(sync_engine, address) == 0


async def test_a_creation_whose_audit_row_fails_is_undone(app, sync_engine):
    address = "198.51.100.99"
    name = unique_name("Patient")
    condition = f"NEW.action = 'create_user' AND NEW.address = '{address}'"
    async with client_at(app, address) as http:
        with failing_audit_inserts(sync_engine, condition):
            refused = await http.post(
                f"/create_user/{name}",
                params={"status": "patient", "password": PASSWORD, "age": 80, "mmse": 25},
            )
    assert refused.status_code == 503
    assert refused.json() == {"detail": AUDIT_FAILED}
    with sync_engine.connect() as conn:
        found = conn.execute(
            text("SELECT count(*) FROM users WHERE name_key(name) = name_key(:n)"), {"n": name}
        ).scalar_one()
    assert found == 0
    assert _rows_from(sync_engine, address) == 0


async def test_a_password_change_is_filed_under_its_user(remote_client, family, sync_engine):
    carer = family["carer"]
    await login(remote_client, carer.name)
    changed = await remote_client.post(
        "/change_password", data={"old_password": PASSWORD, "new_password": "New-Horse-8"}
    )
    assert changed.status_code == 200
    assert audit_rows(sync_engine, carer.user_id) == [
        audit_row(carer.user_id, carer.user_id, "change_password")
    ]
    refused = await remote_client.post(
        "/change_password", data={"old_password": "wrong", "new_password": "Other-Horse-9"}
    )
    assert refused.status_code == 403
    assert len(audit_rows(sync_engine, carer.user_id)) == 1


async def test_a_password_change_whose_audit_row_fails_is_undone(
    remote_client, family, sync_engine
):
    carer = family["carer"]
    await login(remote_client, carer.name)
    with failing_audit_inserts(sync_engine, f"NEW.subject_id = '{carer.user_id}'"):
        refused = await remote_client.post(
            "/change_password", data={"old_password": PASSWORD, "new_password": "New-Horse-8"}
        )
    assert refused.status_code == 503
    assert refused.json() == {"detail": AUDIT_FAILED}
    assert audit_rows(sync_engine, carer.user_id) == []
    # The old password and the session still hold.
    assert (await remote_client.get(f"/get_user_by_name/{carer.name}")).status_code == 200
    await login(remote_client, carer.name, PASSWORD)
