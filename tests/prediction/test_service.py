"""Storing, reading and fitting progression models in PostgreSQL (the command line's half)."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import Engine, text

from docmemo.prediction import service
from docmemo.prediction.progression import LmeModel, LmeParameters
from docmemo.prediction.training import fit_and_store
from docmemo.seeding.service import rebuild_registry


@pytest.fixture
def seeded(sync_engine: Engine) -> Engine:
    """1,500 generated users (900 patients, with their simulated histories)."""
    rebuild_registry(sync_engine, 1_500, seed=11, password="x", progress=False)
    return sync_engine


def _store(engine: Engine, parameters: LmeParameters, at: datetime.datetime, version: str):
    with engine.begin() as conn:
        return service.store_model(conn, version, at, parameters, {"calibration": {}}, 10, 40)


def test_a_stored_model_reads_back_as_the_same_model(no_model, fitted) -> None:
    at = datetime.datetime(2026, 6, 1, 8, 0, tzinfo=datetime.UTC)
    stored = _store(no_model, fitted.parameters, at, "lme-2.1-a")
    with no_model.connect() as conn:
        latest = service.latest_model(conn)
    assert latest == stored
    assert (latest.version, latest.fitted_at, latest.n_patients) == ("lme-2.1-a", at, 10)
    model = service.model_from_row(latest.version, latest.fitted_at, latest.parameters)
    assert model == LmeModel(fitted.parameters, "lme-2.1-a", at)


def test_the_latest_fit_is_the_one_served(no_model, fitted) -> None:
    early = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
    _store(no_model, fitted.parameters, early + datetime.timedelta(days=1), "lme-2.1-late")
    _store(no_model, fitted.parameters, early, "lme-2.1-early")  # inserted last, fitted first
    with no_model.connect() as conn:
        assert service.latest_model(conn).version == "lme-2.1-late"


def test_evaluation_figures_are_added_to_a_stored_model(no_model, fitted) -> None:
    at = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
    stored = _store(no_model, fitted.parameters, at, "lme-2.1-e")
    with no_model.begin() as conn:
        service.add_evaluation(conn, stored.model_id, {"holdout": {"mae": 2.5}})
    with no_model.connect() as conn:
        assert service.latest_model(conn).evaluation == {"calibration": {}, "holdout": {"mae": 2.5}}


def test_versions_are_unique(no_model, fitted) -> None:
    at = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
    _store(no_model, fitted.parameters, at, "lme-2.1-same")
    with pytest.raises(Exception, match="uq_progression_models_version"):
        _store(no_model, fitted.parameters, at, "lme-2.1-same")


def test_histories_are_sampled_from_patients_with_two_visits_or_more(seeded) -> None:
    with seeded.connect() as conn:
        patients, assessments = service.registry_counts(conn)
        everyone = service.sample_histories(conn, 10_000, salt="a")
        some = service.sample_histories(conn, 100, salt="a")
        again = service.sample_histories(conn, 100, salt="a")
        other = service.sample_histories(conn, 100, salt="b")
        multi = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM assessments GROUP BY patient_id"
                " HAVING count(*) >= 2) AS m"
            )
        ).scalar_one()
    assert patients == 900
    assert len(everyone) == multi
    assert sum(len(h.visits) for h in everyone) <= assessments
    assert all(len(h.visits) >= 2 for h in everyone)
    assert all(
        [v.assessed_at for v in h.visits] == sorted(v.assessed_at for v in h.visits)
        for h in everyone
    )
    assert len(some) == 100
    assert some == again
    assert {h.patient_id for h in some} != {h.patient_id for h in other}
    assert all(25 <= h.age <= 90 for h in some)


def test_fit_if_missing_fits_once(seeded, no_model) -> None:
    first = fit_and_store(seeded, if_missing=True, fit_patients=400)
    assert first is not None
    assert first.stored.version.startswith("lme-2.1-")
    assert first.stored.n_patients == 400
    assert first.registry_patients == 900
    assert first.stored.evaluation["calibration"]["fit_patients"] == 400
    assert fit_and_store(seeded, if_missing=True, fit_patients=400) is None
    refit = fit_and_store(seeded, fit_patients=400)
    assert refit is not None
    assert refit.stored.fitted_at > first.stored.fitted_at
    with seeded.connect() as conn:
        assert service.latest_model(conn).version == refit.stored.version


def test_too_small_a_registry_stores_nothing(sync_engine, no_model) -> None:
    rebuild_registry(sync_engine, 20, seed=3, password="x", progress=False)
    with pytest.raises(ValueError, match="at least 20"):
        fit_and_store(sync_engine)
    assert not service.has_model(sync_engine)
