"""The Dockerfile, compose.yaml, the env files and the Kubernetes manifests agree
with each other and with the app: one port, the settings the app reads, the probes'
paths, the database's credentials."""

from __future__ import annotations

import pytest
from dotenv import dotenv_values
from sqlalchemy import make_url

from docmemo.config import Settings
from docmemo.web.app import create_app
from docmemo.web.paths import LIVENESS_PATH, READINESS_PATH
from tests.conftest import REPO_ROOT
from tests.deploy.test_container import compose, dockerfile, final_stage
from tests.deploy.test_k8s import TARGETS, api_pod, config, container, port_number, rendered

API_PORT = 2024  # SPEC §5
DATABASE_HOST_PORT = 2025  # SPEC §5
# Read by PostgreSQL's official image, not by the app.
POSTGRES_IMAGE_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}

COMPOSE_ENV = dotenv_values(REPO_ROOT / "deploy/compose/docmemo.env")
LOCAL_ENV = dotenv_values(REPO_ROOT / ".env.example")


def image_env() -> dict[str, str]:
    return dockerfile().envs


def test_the_api_listens_on_2024_everywhere():
    final = {step["instruction"]: step["value"] for step in final_stage()}
    assert final["EXPOSE"] == str(API_PORT)
    assert image_env()["DOCMEMO_PORT"] == str(API_PORT)
    api_ports = compose()["services"]["api"]["ports"]
    assert [ports.rsplit(":", 1)[1] for ports in api_ports] == [str(API_PORT)]
    assert "DOCMEMO_PORT" not in COMPOSE_ENV  # the image's own value holds
    for target in TARGETS:
        documents = rendered(target)
        api = container(api_pod(documents), "api")
        assert config(documents)["DOCMEMO_PORT"] == str(API_PORT), target
        assert [port["containerPort"] for port in api["ports"]] == [API_PORT], target


def test_postgresql_is_published_on_2025_and_the_local_env_uses_it():
    assert compose()["services"]["db"]["ports"] == [f"127.0.0.1:{DATABASE_HOST_PORT}:5432"]
    assert make_url(LOCAL_ENV["DATABASE_URL"]).port == DATABASE_HOST_PORT


def test_every_variable_set_for_the_api_is_a_setting_the_app_reads(monkeypatch):
    settings = Settings.environment_variables()
    assert {name for name in image_env() if name.startswith("DOCMEMO_")} <= settings
    assert set(COMPOSE_ENV) - POSTGRES_IMAGE_VARIABLES <= settings
    assert set(LOCAL_ENV) <= settings
    # And each value is one the settings accept, as the process would read them (a
    # typo such as DOCMEMO_WORKERS=two fails): in the container, compose's env file
    # over the image's ENV; locally, .env.
    image_settings = {k: v for k, v in image_env().items() if k.startswith("DOCMEMO_")}
    in_container = {**image_settings, **COMPOSE_ENV}
    for name, value in in_container.items():
        monkeypatch.setenv(name, value)
    Settings(_env_file=None).check_production_safety()
    for name in in_container:
        monkeypatch.delenv(name)
    Settings(_env_file=REPO_ROOT / ".env.example").check_production_safety()


def test_the_database_url_matches_the_database_compose_creates():
    for url_text, port in ((COMPOSE_ENV["DATABASE_URL"], 5432), (LOCAL_ENV["DATABASE_URL"], None)):
        url = make_url(url_text)
        assert url.username == COMPOSE_ENV["POSTGRES_USER"]
        assert url.password == COMPOSE_ENV["POSTGRES_PASSWORD"]
        assert url.database == COMPOSE_ENV["POSTGRES_DB"]
        if port:
            assert (url.host, url.port) == ("db", port)


@pytest.mark.parametrize("target", TARGETS)
def test_the_probes_ask_the_app_s_health_routes(target):
    paths = create_app(Settings(_env_file=None)).openapi()["paths"]
    assert "get" in paths[LIVENESS_PATH]
    assert "get" in paths[READINESS_PATH]
    api = container(api_pod(rendered(target)), "api")
    assert api["livenessProbe"]["httpGet"]["path"] == LIVENESS_PATH
    assert api["readinessProbe"]["httpGet"]["path"] == READINESS_PATH
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert port_number(api, api[probe]["httpGet"]["port"]) == API_PORT


def test_the_image_and_compose_check_health_with_the_app_s_own_command():
    final = {step["instruction"]: step["value"] for step in final_stage()}
    assert '"docmemo", "healthcheck"' in final["HEALTHCHECK"]
    assert compose()["services"]["api"]["healthcheck"]["test"] == [
        "CMD",
        "docmemo",
        "healthcheck",
        "--ready",
    ]
