"""What ``GET /predict_patient/{name}`` answers.

The field descriptions end up in the OpenAPI schema, which is where a client developer
reads what a number means; they say the unit and the horizon for that reason.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from docmemo.prediction.model import MmsePrediction, Severity


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
            # predict_mmse(22, 75) for a patient named Adrien (checked by a test).
            "example": {
                "name": "Adrien",
                "current_mmse": 22,
                "predicted_mmse": 19.0,
                "horizon_months": 12,
                "expected_annual_decline": 3.04,
                "uncertainty_sd": 3.61,
                "interval_80": {"low": 14.3, "high": 23.6},
                "interval_95": {"low": 11.9, "high": 26.0},
                "predicted_severity": "mild",
                "model_version": "population-course-1.0",
            }
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
    expected_annual_decline: float = Field(
        description="Expected decline over the horizon, expressed in MMSE points per year."
    )
    uncertainty_sd: float = Field(
        ge=0,
        description=(
            "Standard deviation of the predicted score (MMSE points): between-patient "
            "variability of the rate of decline combined with test-retest noise."
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
    model_version: str = Field(
        description="Identifier of the model that made the prediction (see docs/PREDICTION.md)."
    )

    @classmethod
    def from_prediction(cls, name: str, prediction: MmsePrediction) -> Self:
        """Build the answer from a patient's name and a model's prediction."""
        return cls(
            name=name,
            current_mmse=prediction.current_mmse,
            predicted_mmse=prediction.predicted_mmse,
            horizon_months=prediction.horizon_months,
            expected_annual_decline=prediction.expected_annual_decline,
            uncertainty_sd=prediction.uncertainty_sd,
            interval_80=IntervalOut(
                low=prediction.interval_80.low, high=prediction.interval_80.high
            ),
            interval_95=IntervalOut(
                low=prediction.interval_95.low, high=prediction.interval_95.high
            ),
            predicted_severity=prediction.predicted_severity,
            model_version=prediction.model_version,
        )
