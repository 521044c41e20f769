"""/predict_patient/{name}: neurologists only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from docmemo.audit.dependencies import role_rule_filing_refusals
from docmemo.auth.dependencies import ClientAddress
from docmemo.auth.schemas import Identity
from docmemo.db.dependencies import DbConnection
from docmemo.db.models import AuditAction
from docmemo.prediction import service
from docmemo.prediction.schemas import PredictionOut
from docmemo.web.schemas import error_responses

router = APIRouter(tags=["prediction"])

# 401 anonymous; 403 for other roles, filed in the patient's audit trail as denied.
Neurologist = Annotated[
    Identity,
    role_rule_filing_refusals(
        AuditAction.PREDICT,
        lambda identity: identity.is_neurologist,
        "Only neurologists may see predictions",
    ),
]


@router.get(
    "/predict_patient/{name}",
    response_model=PredictionOut,
    responses=error_responses(
        e401="Not logged in",
        e403="Logged in, but not a neurologist",
        e404="No patient of that name",
    ),
)
async def predict_patient(
    db: DbConnection,
    predictor: Neurologist,
    address: ClientAddress,
    name: Annotated[str, Path(description="The patient's name; case is ignored")],
    months: Annotated[
        int, Query(ge=1, le=60, description="Horizon in months from today (1-60)")
    ] = 12,
) -> PredictionOut:
    """The progression model's prediction of this patient's MMSE `months` ahead
    (default 12), from the patient's own MMSE history, with 80 % and 95 % prediction
    intervals, the expected severity band and the model's version (docs/MODEL.md)."""
    record, forecast = await service.predict_for_patient(
        db, name, months, predictor_id=predictor.user_id, address=address
    )
    return PredictionOut.from_forecast(record.name, forecast)
