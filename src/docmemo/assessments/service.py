"""Recording MMSE assessments and reading a patient's history; all their SQL is here.

The rule that ties them to the registry: ``patients.mmse`` is the score of the
patient's latest assessment, latest meaning the greatest ``(assessed_at,
assessment_id)``. Recording an assessment sets it in the same transaction as the
insert (an assessment dated before the latest one leaves it as it is), and the
patient's row is locked first, so concurrent recordings for one patient take turns
and the last to commit sees the others' assessments. The counters behind the counts
follow ``patients.mmse`` by their own triggers (migration 0003).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from psycopg import AsyncConnection

from docmemo.audit.service import record_event
from docmemo.auth.schemas import Identity
from docmemo.db.models import EARLIEST_ASSESSMENT, AuditAction, AuditOutcome, Role
from docmemo.errors import Forbidden, InvalidInput, NotFound
from docmemo.users.names import clean_name
from docmemo.users.service import UserRecord, can_read, find_record

# One answer for a missing name, a non-patient and a record the caller may not see,
# so that nothing can be learnt from it.
NO_SUCH_PATIENT = "No such patient, or none you may see"


@dataclass(frozen=True, slots=True)
class Recorder:
    user_id: str
    name: str


@dataclass(frozen=True, slots=True)
class AssessmentRecord:
    assessment_id: int
    mmse: int
    assessed_at: date
    recorded_by: Recorder | None
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class PatientRef:
    user_id: str
    name: str


def server_today() -> date:
    """Today on the API server's clock: the default date of an assessment, and the
    latest one allowed."""
    return date.today()


def can_record(actor: Identity) -> bool:
    """Only health professionals record assessments."""
    return actor.is_healthpro


def check_assessment(mmse: int, assessed_at: date, today: date) -> None:
    """Refuse (422) a score outside 0..30 or a date in the future or before 1900."""
    if not 0 <= mmse <= 30:
        raise InvalidInput("mmse must be between 0 and 30", field="mmse")
    if assessed_at > today:
        raise InvalidInput("assessed_at must not be in the future", field="assessed_at")
    if assessed_at < EARLIEST_ASSESSMENT:
        raise InvalidInput(
            f"assessed_at must not be before {EARLIEST_ASSESSMENT.isoformat()}",
            field="assessed_at",
        )


# The patient's row, locked until the end of the transaction.
_LOCK_PATIENT = """
    SELECT p.user_id, p.name FROM users u JOIN patients p ON p.user_id = u.user_id
    WHERE name_key(u.name) = name_key(%(name)s)
    FOR NO KEY UPDATE OF p
"""
# recorded_by: NULL rather than a foreign-key error if the recorder's account has
# just been deleted.
_INSERT = """
    INSERT INTO assessments (patient_id, mmse, assessed_at, recorded_by)
    VALUES (%(patient_id)s, %(mmse)s, %(assessed_at)s,
            (SELECT user_id FROM users WHERE user_id = %(recorded_by)s))
    RETURNING assessment_id, recorded_by, recorded_at
"""
_SET_LATEST_SCORE = """
    UPDATE patients p SET mmse = latest.mmse
    FROM (SELECT mmse FROM assessments WHERE patient_id = %(patient_id)s
          ORDER BY assessed_at DESC, assessment_id DESC LIMIT 1) AS latest
    WHERE p.user_id = %(patient_id)s AND p.mmse <> latest.mmse
"""
_HISTORY = """
    SELECT a.assessment_id, a.mmse, a.assessed_at, a.recorded_by, r.name AS recorder_name,
           a.recorded_at
    FROM assessments a LEFT JOIN users r ON r.user_id = a.recorded_by
    WHERE a.patient_id = %(patient_id)s
    ORDER BY a.assessed_at, a.assessment_id
"""


async def record_assessment(
    db: AsyncConnection,
    actor: Identity,
    raw_name: str,
    mmse: int,
    assessed_at: date | None = None,
    address: str | None = None,
) -> tuple[PatientRef, AssessmentRecord]:
    """Record an assessment of the patient of this name, by ``actor`` (a health
    professional), dated ``assessed_at`` (default today), and keep ``patients.mmse``
    the latest score: one transaction, audited in it (from ``address``)."""
    name = clean_name(raw_name)
    if not can_record(actor):
        raise Forbidden("Only health professionals may record assessments")
    assessed_at = assessed_at if assessed_at is not None else server_today()
    check_assessment(mmse, assessed_at, server_today())
    async with db.transaction():
        patient = await (await db.execute(_LOCK_PATIENT, {"name": name})).fetchone()
        if patient is None:
            raise NotFound(NO_SUCH_PATIENT)
        params = {
            "patient_id": patient.user_id,
            "mmse": mmse,
            "assessed_at": assessed_at,
            "recorded_by": actor.user_id,
        }
        inserted = await (await db.execute(_INSERT, params)).fetchone()
        await db.execute(_SET_LATEST_SCORE, params)
        await record_event(
            db,
            actor_id=actor.user_id,
            subject_id=patient.user_id,
            action=AuditAction.RECORD_ASSESSMENT,
            address=address,
        )
    recorder = Recorder(actor.user_id, actor.name) if inserted.recorded_by else None
    assessment = AssessmentRecord(
        assessment_id=inserted.assessment_id,
        mmse=mmse,
        assessed_at=assessed_at,
        recorded_by=recorder,
        recorded_at=inserted.recorded_at,
    )
    return PatientRef(patient.user_id, patient.name), assessment


async def read_history(
    db: AsyncConnection, viewer: Identity, raw_name: str, address: str | None = None
) -> tuple[UserRecord, list[AssessmentRecord]]:
    """The patient of this name and their assessments, oldest first, if the viewer may
    read the patient's record; otherwise NotFound, as for a name nobody has. Audited
    in the same transaction (from ``address``), a refusal as ``denied``."""
    name = clean_name(raw_name)
    async with db.transaction():
        record = await find_record(db, name)
        if record is None or record.status is not Role.PATIENT:
            raise NotFound(NO_SUCH_PATIENT)
        allowed = can_read(viewer, record)
        await record_event(
            db,
            actor_id=viewer.user_id,
            subject_id=record.user_id,
            action=AuditAction.READ_ASSESSMENTS,
            address=address,
            outcome=AuditOutcome.ALLOWED if allowed else AuditOutcome.DENIED,
        )
        if allowed:
            rows = await (await db.execute(_HISTORY, {"patient_id": record.user_id})).fetchall()
    if not allowed:
        raise NotFound(NO_SUCH_PATIENT)  # after the commit, which keeps the refusal filed
    history = [
        AssessmentRecord(
            assessment_id=row.assessment_id,
            mmse=row.mmse,
            assessed_at=row.assessed_at,
            recorded_by=Recorder(row.recorded_by, row.recorder_name) if row.recorded_by else None,
            recorded_at=row.recorded_at,
        )
        for row in rows
    ]
    return record, history


@dataclass(frozen=True, slots=True)
class CaregiverRef:
    """A patient's caregiver as the patient's page names them; ``viewer_may_read``:
    whether the viewer may read the caregiver's own record (can_read)."""

    user_id: str
    name: str
    viewer_may_read: bool


_CAREGIVER = """
    SELECT u.user_id, u.name FROM caregivers c JOIN users u ON u.user_id = c.user_id
    WHERE c.user_id = %(caregiver_id)s
"""


async def caregiver_of(
    db: AsyncConnection, viewer: Identity, patient: UserRecord
) -> CaregiverRef | None:
    """The caregiver of a patient whose record the viewer has read (read_history), or
    None. The name is part of the patient's record for whoever may read it; the
    caregiver's own record follows its own rule."""
    if patient.caregiver_id is None:
        return None
    row = await (await db.execute(_CAREGIVER, {"caregiver_id": patient.caregiver_id})).fetchone()
    if row is None:
        return None
    caregiver = UserRecord(user_id=row.user_id, name=row.name, status=Role.CAREGIVER)
    return CaregiverRef(row.user_id, row.name, can_read(viewer, caregiver))
