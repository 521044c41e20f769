"""predict_course: the predicted course the patient page draws, from the same reading of
the visits and the model as /predict_patient, audited once."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import Engine, text

from docmemo.assessments.service import record_assessment, server_today
from docmemo.auth.schemas import Identity
from docmemo.db.models import Role, Specialty
from docmemo.errors import NotFound
from docmemo.prediction import service
from docmemo.prediction.model import MODEL_VERSION, predict_mmse
from docmemo.prediction.progression import LmeModel, Visit, add_months
from tests.helpers import make_user

HORIZONS = (3, 6, 12, 18, 24)


@pytest.fixture
def stored(sync_engine: Engine, no_model, fitted) -> service.StoredModel:
    fitted_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    with sync_engine.begin() as conn:
        return service.store_model(
            conn, "lme-2.1-course-test", fitted_at, fitted.parameters, None, 3_000, 14_000
        )


@pytest.fixture
async def neurologist(pool) -> Identity:
    user = await make_user(pool, Role.HEALTHPRO, specialty=Specialty.NEUROLOGIST)
    return Identity(
        user_id=user.user_id, name=user.name, status=Role.HEALTHPRO, specialty=Specialty.NEUROLOGIST
    )


@pytest.fixture
async def declining(pool, db, neurologist):
    """Age 75, yearly scores 26, 24, 22, the last of them (20) today."""
    today = server_today()
    user = await make_user(pool, Role.PATIENT, age=75, mmse=20)
    for years, score in ((3, 26), (2, 24), (1, 22)):
        await record_assessment(db, neurologist, user.name, score, add_months(today, -12 * years))
    return user


def _predict_events(engine: Engine, subject_id: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT actor_id, outcome FROM audit_events"
                " WHERE subject_id = :id AND action = 'predict'"
            ),
            {"id": subject_id},
        )
        return [tuple(row) for row in rows]


async def test_every_horizon_is_the_forecast_the_api_gives(
    db, sync_engine, declining, neurologist, stored, fitted
) -> None:
    record, course = await service.predict_course(
        db, declining.name.upper(), HORIZONS, predictor_id=neurologist.user_id
    )
    today = server_today()
    visits = [
        *(Visit(add_months(today, -12 * y), s) for y, s in ((3, 26), (2, 24), (1, 22))),
        Visit(today, 20),
    ]
    model = LmeModel(fitted.parameters, stored.version, stored.fitted_at)
    assert record.name == declining.name
    assert (course.model_version, course.model_fitted_at) == (stored.version, stored.fitted_at)
    assert [f.horizon_months for f in course.ahead] == list(HORIZONS)
    assert course.ahead == [model.forecast(visits, 75, today, m) for m in HORIZONS]
    _, api_answer = await service.predict_for_patient(
        db, declining.name, 12, predictor_id=neurologist.user_id
    )
    assert course.at(12) == api_answer
    assert course.at(7) is None
    # The bands start on the day of the last visit, and the course falls from there.
    mean, interval_80, interval_95 = model.predict_at(visits, 75, today)
    assert course.start.on == today
    assert course.start.predicted_mmse == round(mean, 1)
    assert (course.start.interval_80, course.start.interval_95) == (interval_80, interval_95)
    means = [course.start.predicted_mmse, *(f.predicted_mmse for f in course.ahead)]
    assert means == sorted(means, reverse=True) and means[-1] < means[0]
    widths = [f.interval_95.high - f.interval_95.low for f in course.ahead]
    assert widths[-1] > widths[0]


async def test_one_course_is_one_audit_event(db, sync_engine, declining, neurologist) -> None:
    before = _predict_events(sync_engine, declining.user_id)
    await service.predict_course(
        db, declining.name, HORIZONS, predictor_id=neurologist.user_id, address="192.0.2.7"
    )
    after = _predict_events(sync_engine, declining.user_id)
    assert after[len(before) :] == [(neurologist.user_id, "allowed")]


async def test_bad_horizons_are_refused_before_anything_is_read(
    db, sync_engine, declining, neurologist
) -> None:
    before = _predict_events(sync_engine, declining.user_id)
    for months in ((), (0, 12), (12, 61), (-3,)):
        with pytest.raises(ValueError, match="between 1 and 60"):
            await service.predict_course(
                db, declining.name, months, predictor_id=neurologist.user_id
            )
    assert _predict_events(sync_engine, declining.user_id) == before


async def test_unknown_names_and_non_patients_are_not_found(pool, db, neurologist) -> None:
    carer = await make_user(pool, Role.CAREGIVER)
    for name in ("Nobody Like This", carer.name, neurologist.name):
        with pytest.raises(NotFound):
            await service.predict_course(db, name, HORIZONS, predictor_id=neurologist.user_id)


async def test_without_a_fitted_model_the_first_version_draws_the_course(
    pool, db, neurologist, no_model
) -> None:
    patient = await make_user(pool, Role.PATIENT, age=78, mmse=19)
    _, course = await service.predict_course(
        db, patient.name, (12, 24), predictor_id=neurologist.user_id
    )
    assert course.model_version == MODEL_VERSION
    assert course.model_fitted_at is None
    expected = predict_mmse(19, 78, 12)
    assert course.at(12).predicted_mmse == expected.predicted_mmse
    assert course.at(12).interval_95 == expected.interval_95
    assert course.start.on == server_today()
    assert (
        course.at(24).predicted_mmse < course.at(12).predicted_mmse <= course.start.predicted_mmse
    )
