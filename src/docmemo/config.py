"""Settings, read once from the environment (prefix ``DOCMEMO_``; ``DATABASE_URL`` as is)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development defaults, clearly marked: never use them for real patients.
DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105
DEV_DEMO_PASSWORD = "memo-demo-2026"  # noqa: S105
MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCMEMO_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"

    # Database: a postgresql+psycopg:// URL; empty means "run the embedded PostgreSQL".
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "DOCMEMO_DATABASE_URL")
    )
    data_dir: Path = Path(".docmemo")
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    # How long a request waits for a pooled connection before answering 503. While the
    # database is away this is how long each request takes to get its 503: under the
    # 2 s the reliability tests allow (tests/db/test_outage.py).
    db_pool_timeout_s: float = Field(default=1.0, gt=0)
    # How long commands wait for the database to answer at start before giving up
    # (a container may start before its database does).
    db_wait_s: float = Field(default=60.0, ge=0)

    # HTTP
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # One line per request (passwords redacted). Off saves that work on every request
    # (docs/BENCHMARKS.md measures it); keep it on unless a proxy logs the requests.
    access_log: bool = True

    # Sessions and passwords
    secret_key: str = DEV_SECRET_KEY
    session_cookie_name: str = "docmemo_session"
    session_lifetime_s: int = Field(default=8 * 3600, ge=60)
    # A session unused this long ends. Its last use is recorded to the minute
    # (auth.service.SESSION_TOUCH_INTERVAL_S), hence the 5-minute floor.
    session_idle_s: int = Field(default=30 * 60, ge=5 * 60)
    # None = automatic: Secure unless the request came to localhost over plain HTTP.
    cookie_secure: bool | None = None
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_base_s: int = Field(default=30, ge=1)
    login_lockout_max_s: int = Field(default=15 * 60, ge=1)
    # Failed logins (and wrong passwords at a password change) from one client address
    # (an IPv6 /64) per fixed window; beyond: 429 until the window ends. A clinic behind
    # one NAT address sees a few typos per quarter hour; a password sprayer, hundreds.
    login_address_max_failures: int = Field(default=50, ge=1)
    login_address_window_s: int = Field(default=15 * 60, ge=1)

    # Procedural data
    demo_password: str = DEV_DEMO_PASSWORD
    seed_users: int = Field(default=10_000, ge=0)
    seed: int | None = 2024
    seed_on_start: bool = True
    # False where migrations run once per rollout elsewhere (a Kubernetes init container).
    migrate_on_start: bool = True

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, url: str | None) -> str | None:
        if not url:
            return None
        if url.startswith(("postgres://", "postgresql://")):
            # Accept the usual libpq spelling and pick the psycopg 3 driver for it.
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        if not url.startswith("postgresql+psycopg://"):
            raise ValueError("DATABASE_URL must be a postgresql+psycopg:// URL")
        return url

    @classmethod
    def environment_variables(cls) -> set[str]:
        """The environment variable of every setting (DATABASE_URL, DOCMEMO_...)."""
        names = set()
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                names.add(str(alias.choices[0]))
            else:
                names.add(f"{cls.model_config['env_prefix']}{name}".upper())
        return names

    def check_production_safety(self) -> None:
        """Refuse the development defaults and placeholders when running for real."""
        if self.environment != "production":
            return
        key = self.secret_key
        if key == DEV_SECRET_KEY or "change-me" in key.lower() or len(key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"DOCMEMO_SECRET_KEY must be set in production, to {MIN_SECRET_KEY_LENGTH} or "
                "more random characters (openssl rand -hex 32), not a placeholder"
            )


@lru_cache
def get_settings() -> Settings:
    settings = Settings()
    settings.check_production_safety()
    return settings
