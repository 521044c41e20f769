"""A generated registry's histories and a model fitted on four fifths of them, shared by
the tests of this folder (the fit takes a few seconds, so it is done once)."""

from __future__ import annotations

import datetime
from itertools import groupby

import pytest
from sqlalchemy import Engine, text

from docmemo.prediction.evaluation import split_holdout
from docmemo.prediction.fitting import FitResult, fit
from docmemo.prediction.progression import LmeModel, PatientHistory, Visit
from docmemo.seeding.generator import generate_registry

TODAY = datetime.date(2026, 6, 15)


def registry_histories(users: int, seed: int) -> list[PatientHistory]:
    """The histories the seeding would write for this registry, without a database."""
    registry = generate_registry(users, seed=seed, today=TODAY)
    ages = dict(zip(registry.user_ids, registry.ages, strict=False))
    return [
        PatientHistory(patient_id, ages[patient_id], [Visit(d, m) for _, m, d in rows])
        for patient_id, rows in groupby(registry.assessments(), key=lambda row: row[0])
    ]


@pytest.fixture(scope="session")
def histories() -> list[PatientHistory]:
    """The default registry: 10,000 users, 6,000 patients, about 5,250 with two visits or
    more (the size the issue's targets are stated for)."""
    return registry_histories(10_000, seed=2024)


@pytest.fixture(scope="session")
def holdout(histories) -> tuple[list[PatientHistory], list[PatientHistory]]:
    """(training patients, held-out fifth), as ``docmemo evaluate-model`` splits them."""
    return split_holdout(histories, seed=0)


@pytest.fixture(scope="session")
def fitted(holdout) -> FitResult:
    """Fitted as ``docmemo evaluate-model`` fits: the default sample sizes."""
    training, _ = holdout
    return fit(training, seed=0)


@pytest.fixture(scope="session")
def lme(fitted) -> LmeModel:
    return fitted.model("lme-2.1-test")


def _delete_models(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM progression_models"))


@pytest.fixture
def no_model(sync_engine: Engine):
    """No stored model during the test (and none left after it); yields the engine."""
    _delete_models(sync_engine)
    yield sync_engine
    _delete_models(sync_engine)
