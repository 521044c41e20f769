"""/predict_patient/{name}: neurologists only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from docmemo.auth.dependencies import Neurologist
from docmemo.db.engine import DbConnection
from docmemo.prediction import service
from docmemo.prediction.schemas import PredictionOut
from docmemo.web.schemas import error_responses

router = APIRouter(tags=["prediction"])


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
    _: Neurologist,
    name: Annotated[str, Path(description="The patient's name; case is ignored")],
    months: Annotated[int, Query(ge=1, le=60, description="Horizon in months")] = 12,
) -> PredictionOut:
    """The model's prediction of this patient's MMSE `months` ahead (default 12), with
    80 % and 95 % intervals and the model's version."""
    record, prediction = await service.predict_for_patient(db, name, months)
    return PredictionOut.from_prediction(record.name, prediction)
