"""What ``GET /predict_patient/{name}`` answers.

The field descriptions end up in the OpenAPI schema, which is where a client developer
reads what a number means; they say the unit and the horizon for that reason.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from docmemo.prediction.model import Severity
from docmemo.prediction.progression import Forecast

# A real answer, of the model `docmemo fit-model` fitted on the default registry (10,000
# users, seed 2024) on 2026-11-29, for a 75-year-old whose four yearly visits scored
# 26, 24, 22 and 20 (tests/prediction/test_endpoint.py checks it is a consistent answer).
EXAMPLE: dict[str, Any] = {
    "name": "Adrien",
    "current_mmse": 20,
    "predicted_mmse": 16.8,
    "horizon_months": 12,
    "target_date": "2027-11-29",
    "expected_annual_decline": 3.2,
    "uncertainty_sd": 3.41,
    "interval_80": {"low": 12.8, "high": 20.8},
    "interval_95": {"low": 10.1, "high": 23.5},
    "predicted_severity": "moderate",
    "visits_used": 4,
    "model_version": "lme-2.0-20261129T052922.386147Z",
    "model_fitted_at": "2026-11-29T05:29:22.386147Z",
}


class IntervalOut(BaseModel):
    """A prediction interval on the MMSE scale, clipped to 0..30."""

    model_config = ConfigDict(frozen=True)

    low: float = Field(ge=0, le=30, description="Lower bound (MMSE points).")
    high: float = Field(ge=0, le=30, description="Upper bound (MMSE points).")


class PredictionOut(BaseModel):
    """The model's prediction of one patient's MMSE, with its uncertainty and version."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "example": EXAMPLE,
        },
    )

    name: str = Field(description="The patient's name, as stored in the registry.")
    current_mmse: int = Field(ge=0, le=30, description="The patient's MMSE score on record.")
    predicted_mmse: float = Field(
        ge=0,
        le=30,
        description="Expected MMSE score at the horizon (mean of the prediction, 0..30).",
    )
    horizon_months: int = Field(
        ge=1, le=60, description="How far ahead the prediction is, in months from today."
    )
    target_date: date = Field(description="The day the prediction is for: today + horizon.")
    expected_annual_decline: float = Field(
        description=(
            "Expected decline from the current score to the predicted one, expressed in "
            "MMSE points per year."
        )
    )
    uncertainty_sd: float = Field(
        ge=0,
        description=(
            "Standard deviation of the predicted score (MMSE points) that the 95 % interval "
            "stands for: the patient's own uncertain course and test-retest noise combined."
        ),
    )
    interval_80: IntervalOut = Field(
        description="80 % prediction interval of the score at the horizon, clipped to 0..30."
    )
    interval_95: IntervalOut = Field(
        description="95 % prediction interval of the score at the horizon, clipped to 0..30."
    )
    predicted_severity: Severity = Field(
        description=(
            "Severity band of the predicted score: normal 24-30, mild 18-23, "
            "moderate 10-17, severe 0-9."
        )
    )
    visits_used: int = Field(
        ge=1,
        description=(
            "How many of the patient's MMSE assessments the prediction used (those of the "
            "last 3.5 years before the latest; 1 with population-course-1.0)."
        ),
    )
    model_version: str = Field(
        description=(
            "The model that made the prediction: lme-2.0-<fitted at> (docs/MODEL.md), or "
            "population-course-1.0 while no model has been fitted (docs/PREDICTION.md)."
        )
    )
    model_fitted_at: datetime | None = Field(
        description="When the model was fitted; null for population-course-1.0 (not fitted)."
    )

    @classmethod
    def from_forecast(cls, name: str, forecast: Forecast) -> Self:
        """Build the answer from a patient's name and a model's forecast."""
        return cls(
            name=name,
            current_mmse=forecast.current_mmse,
            predicted_mmse=forecast.predicted_mmse,
            horizon_months=forecast.horizon_months,
            target_date=forecast.target_date,
            expected_annual_decline=forecast.expected_annual_decline,
            uncertainty_sd=forecast.uncertainty_sd,
            interval_80=IntervalOut(low=forecast.interval_80.low, high=forecast.interval_80.high),
            interval_95=IntervalOut(low=forecast.interval_95.low, high=forecast.interval_95.high),
            predicted_severity=forecast.predicted_severity,
            visits_used=forecast.visits_used,
            model_version=forecast.model_version,
            model_fitted_at=forecast.model_fitted_at,
        )
