"""Predictions are audited in their own transaction; refusals are filed too."""

from __future__ import annotations

from docmemo.audit.service import AUDIT_FAILED
from tests.audit.conftest import audit_row, audit_rows, failing_audit_inserts
from tests.helpers import login


async def test_a_prediction_files_one_row(remote_client, family, sync_engine):
    doctor, patient = family["neurologist"], family["patient"]
    await login(remote_client, doctor.name)
    assert (await remote_client.get(f"/predict_patient/{patient.name}")).status_code == 200
    assert audit_rows(sync_engine, patient.user_id) == [
        audit_row(doctor.user_id, patient.user_id, "predict")
    ]


async def test_a_refused_prediction_is_filed_as_denied(remote_client, family, sync_engine):
    doctor, patient = family["general"], family["patient"]
    await login(remote_client, doctor.name)
    response = await remote_client.get(f"/predict_patient/{patient.name}")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only neurologists may see predictions"}
    assert audit_rows(sync_engine, patient.user_id) == [
        audit_row(doctor.user_id, patient.user_id, "predict", outcome="denied")
    ]


async def test_a_prediction_whose_audit_row_fails_is_not_given(remote_client, family, sync_engine):
    patient = family["patient"]
    await login(remote_client, family["neurologist"].name)
    with failing_audit_inserts(sync_engine, f"NEW.subject_id = '{patient.user_id}'"):
        response = await remote_client.get(f"/predict_patient/{patient.name}")
    assert response.status_code == 503
    assert response.json() == {"detail": AUDIT_FAILED}
    assert audit_rows(sync_engine, patient.user_id) == []
