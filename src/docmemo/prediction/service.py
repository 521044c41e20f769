"""Predicting a patient's MMSE: find the patient, run the model."""

from __future__ import annotations

from psycopg import AsyncConnection

from docmemo.db.models import Role
from docmemo.errors import NotFound
from docmemo.prediction.model import MmsePrediction, predict_mmse
from docmemo.users.names import clean_name
from docmemo.users.service import UserRecord, find_record


async def predict_for_patient(
    db: AsyncConnection, raw_name: str, months: int
) -> tuple[UserRecord, MmsePrediction]:
    """The patient of this name and the model's prediction ``months`` ahead."""
    record = await find_record(db, clean_name(raw_name))
    if record is None or record.status is not Role.PATIENT:
        raise NotFound("No such patient")
    assert record.mmse is not None
    assert record.age is not None
    return record, predict_mmse(record.mmse, record.age, months)
