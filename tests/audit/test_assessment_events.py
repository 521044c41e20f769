"""Reading and recording assessments are audited in their own transaction."""

from __future__ import annotations

from docmemo.audit.service import AUDIT_FAILED
from tests.audit.conftest import audit_row, audit_rows, failing_audit_inserts
from tests.helpers import login


def history_url(name: str) -> str:
    return f"/patients/{name}/assessments"


async def test_reading_a_history_files_one_row(remote_client, family, sync_engine):
    reader, patient = family["carer"], family["patient"]
    await login(remote_client, reader.name)
    assert (await remote_client.get(history_url(patient.name))).status_code == 200
    assert audit_rows(sync_engine, patient.user_id) == [
        audit_row(reader.user_id, patient.user_id, "read_assessments")
    ]


async def test_a_refused_history_is_filed_as_denied(remote_client, family, sync_engine):
    intruder, patient = family["other_carer"], family["patient"]
    await login(remote_client, intruder.name)
    response = await remote_client.get(history_url(patient.name))
    assert response.status_code == 404
    assert "assessments" not in response.json()
    assert audit_rows(sync_engine, patient.user_id) == [
        audit_row(intruder.user_id, patient.user_id, "read_assessments", outcome="denied")
    ]


async def test_recording_an_assessment_files_one_row(remote_client, family, sync_engine):
    doctor, patient = family["psychologist"], family["patient"]
    await login(remote_client, doctor.name)
    response = await remote_client.post(history_url(patient.name), json={"mmse": 19})
    assert response.status_code == 201
    assert audit_rows(sync_engine, patient.user_id) == [
        audit_row(doctor.user_id, patient.user_id, "record_assessment")
    ]


async def test_a_refused_recording_is_filed_as_denied(remote_client, family, sync_engine):
    carer, patient = family["carer"], family["patient"]
    await login(remote_client, carer.name)
    response = await remote_client.post(history_url(patient.name), json={"mmse": 29})
    assert response.status_code == 403
    assert audit_rows(sync_engine, patient.user_id) == [
        audit_row(carer.user_id, patient.user_id, "record_assessment", outcome="denied")
    ]


async def test_an_assessment_whose_audit_row_fails_is_not_recorded(
    remote_client, family, sync_engine
):
    doctor, patient = family["general"], family["patient"]
    await login(remote_client, doctor.name)
    with failing_audit_inserts(sync_engine, f"NEW.subject_id = '{patient.user_id}'"):
        refused = await remote_client.post(history_url(patient.name), json={"mmse": 3})
        hidden = await remote_client.get(history_url(patient.name))
    assert (refused.status_code, hidden.status_code) == (503, 503)
    assert refused.json() == hidden.json() == {"detail": AUDIT_FAILED}
    assert audit_rows(sync_engine, patient.user_id) == []
    history = (await remote_client.get(history_url(patient.name))).json()["assessments"]
    assert [entry["mmse"] for entry in history] == [22]  # the first score only
    record = (await remote_client.get(f"/get_user_by_name/{patient.name}")).json()
    assert record["mmse"] == 22
