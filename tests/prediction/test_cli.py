"""docmemo fit-model and evaluate-model, and the fit after seeding: real processes."""

from __future__ import annotations

import psycopg
import pytest

from tests.processes import base_env, fresh_database
from tests.test_cli import run_docmemo


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    url = fresh_database(database_url, "docmemo_model_cli_test")
    return base_env(DATABASE_URL=url)


def _models(env: dict[str, str]) -> list[tuple[str, dict | None]]:
    with psycopg.connect(env["DATABASE_URL"].replace("+psycopg", "")) as conn:
        return conn.execute(
            "SELECT version, evaluation FROM progression_models ORDER BY fitted_at"
        ).fetchall()


def test_seeding_fits_a_model_and_the_commands_refit_and_evaluate(env, tmp_path):
    seeded = run_docmemo("seed", "--users", "1000", "--seed", "5", env=env, cwd=tmp_path)
    assert "Fitted progression model lme-2.1-" in seeded.stdout
    (first,) = _models(env)
    assert first[1]["calibration"]["fit_patients"] > 400

    missing = run_docmemo("fit-model", "--if-missing", env=env, cwd=tmp_path)
    assert "already stored: nothing done" in missing.stdout
    assert len(_models(env)) == 1

    refit = run_docmemo("fit-model", "--fit-patients", "300", env=env, cwd=tmp_path)
    assert "on 300 patients" in refit.stdout
    latest_version = _models(env)[-1][0]
    assert latest_version != first[0]

    evaluated = run_docmemo("evaluate-model", "--fit-patients", "300", env=env, cwd=tmp_path)
    for row in ("lme-2.1", "last value (LVCF)", "population-course-1.0", "Clear case"):
        assert row in evaluated.stdout
    assert f"Figures added to the evaluation of {latest_version}" in evaluated.stdout
    holdout = _models(env)[-1][1]["holdout"]
    assert holdout["kind"] == "holdout"
    assert holdout["scores"][0]["model"] == "lme-2.1"


def test_a_registry_too_small_to_fit_still_seeds_and_fit_model_explains(env, tmp_path):
    seeded = run_docmemo("seed", "--users", "20", env=env, cwd=tmp_path)
    assert "No progression model fitted" in seeded.stdout
    assert _models(env) == []
    refused = run_docmemo("fit-model", env=env, cwd=tmp_path, expect_status=1)
    assert "No model fitted" in refused.stdout
