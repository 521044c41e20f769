"""Settings from the environment, refusing unsafe defaults in production."""

from __future__ import annotations

import secrets

import pytest
from pydantic import ValidationError

from docmemo.config import DEV_SECRET_KEY, Settings


def test_database_url_accepts_the_libpq_spellings_and_picks_psycopg():
    for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        assert (
            Settings(_env_file=None, database_url=url).database_url == "postgresql+psycopg://u@h/db"
        )
    assert Settings(_env_file=None, database_url="").database_url is None


def test_other_drivers_are_refused():
    with pytest.raises(ValidationError):
        Settings(_env_file=None, database_url="mysql://u@h/db")


@pytest.mark.parametrize(
    "weak_key", [DEV_SECRET_KEY, "CHANGE-ME", "compose-dev-only-secret-key-change-me", "short"]
)
def test_production_refuses_development_placeholder_and_short_secrets(weak_key):
    with pytest.raises(ValueError, match="DOCMEMO_SECRET_KEY"):
        Settings(
            _env_file=None, environment="production", secret_key=weak_key
        ).check_production_safety()
    Settings(_env_file=None, environment="development", secret_key=weak_key)


def test_production_takes_a_long_random_secret():
    Settings(
        _env_file=None, environment="production", secret_key=secrets.token_hex(32)
    ).check_production_safety()


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://env@host/db")
    monkeypatch.setenv("DOCMEMO_PORT", "9001")
    monkeypatch.setenv("DOCMEMO_COOKIE_SECURE", "false")
    settings = Settings(_env_file=None)
    assert settings.database_url == "postgresql+psycopg://env@host/db"
    assert settings.port == 9001
    assert settings.cookie_secure is False
