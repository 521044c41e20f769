"""/, /status, /docs, error shapes, and the access log's redaction."""

from __future__ import annotations

import gc
import logging

from sqlalchemy import text

from docmemo import __version__
from docmemo.config import Settings
from docmemo.db.models import Role
from docmemo.web.app import YOUNGEST_GENERATION_THRESHOLD
from docmemo.web.logging import RedactSecrets, redact_secrets
from tests.helpers import app_client, login, make_user


async def test_root_names_the_service_and_links_every_endpoint(client):
    body = (await client.get("/")).json()
    assert body["service"] == "Docteur Memo"
    assert body["version"] == __version__
    links = {(link["method"], link["path"]) for link in body["endpoints"]}
    assert {
        ("GET", "/login"),
        ("POST", "/login"),
        ("POST", "/logout"),
        ("GET", "/status"),
        ("POST", "/create_user/{name}"),
        ("GET", "/get_user_by_name/{name}"),
        ("GET", "/count_over/{mmse}"),
        ("GET", "/count_under/{mmse}"),
        ("GET", "/predict_patient/{name}"),
    } <= links


async def test_docs_is_swagger_ui_and_presents_the_readme(client):
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    description = (await client.get("/openapi.json")).json()["info"]["description"]
    assert "Docteur Memo" in description
    assert "## Endpoints" in description


async def test_status_counts_the_registry_like_sql_does(client, sync_engine):
    body = (await client.get("/status")).json()
    with sync_engine.connect() as conn:
        expected = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("users", "patients", "caregivers", "healthpros")
        }
    assert body["database"] == {"reachable": True, **expected}
    assert body["authentication"] == {
        "logged_in": False,
        "user_id": None,
        "name": None,
        "status": None,
        "specialty": None,
    }


async def test_status_of_a_logged_in_patient(pool, client, db):
    patient = await make_user(pool, Role.PATIENT)
    await login(client, patient.name)
    auth = (await client.get("/status")).json()["authentication"]
    assert auth["logged_in"] is True
    assert (auth["name"], auth["status"], auth["specialty"]) == (patient.name, "patient", None)


async def test_unknown_paths_and_methods_answer_json_errors(client):
    missing = await client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong_method = await client.delete("/status")
    assert wrong_method.status_code == 405
    assert "detail" in wrong_method.json()


async def test_validation_errors_do_not_echo_the_password(client):
    response = await client.get("/login", params={"name": "", "password": "TopSecret-99"})
    assert response.status_code == 422
    assert "TopSecret-99" not in response.text


async def test_with_the_database_down_status_says_so_and_the_rest_is_503():
    # Nothing listens on port 9 (discard) on loopback: connections are refused at once.
    unreachable = Settings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/docmemo_test",
        db_connect_timeout_s=1,
    )
    async with app_client(unreachable) as http:
        status = await http.get("/status")
        assert status.status_code == 200
        assert status.json()["database"]["reachable"] is False
        for response in (
            await http.get("/count_over/10"),
            await http.get("/login", params={"name": "a", "password": "b"}),
            await http.post(
                "/create_user/Someone", params={"status": "caregiver", "password": "pw"}
            ),
        ):
            assert response.status_code == 503
            assert response.json() == {"detail": "The database is unavailable; try again shortly"}


def test_passwords_are_redacted_from_access_log_lines():
    assert (
        redact_secrets("/login?name=Ann&password=s3cret&x=1")
        == "/login?name=Ann&password=[REDACTED]&x=1"
    )
    assert redact_secrets("/create_user/Bo?password=a%26b&status=patient") == (
        "/create_user/Bo?password=[REDACTED]&status=patient"
    )
    assert redact_secrets("/count_over/20?min_age=3") == "/count_over/20?min_age=3"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/login?name=Ann&password=hunter2", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record)
    assert "hunter2" not in record.getMessage()


async def test_every_error_has_a_detail_message_and_invalid_fields_are_listed(client):
    invalid = await client.get("/count_over/31", params={"min_age": "old"})
    body = invalid.json()
    assert invalid.status_code == 422
    assert isinstance(body["detail"], str)
    assert "mmse" in body["detail"] and "min_age" in body["detail"]
    assert {tuple(error["loc"]) for error in body["errors"]} == {
        ("path", "mmse"),
        ("query", "min_age"),
    }
    refused = await client.get("/count_over/20", params={"min_age": 9, "max_age": 1})
    assert refused.json() == {"detail": "min_age must not be greater than max_age"}


async def test_a_started_app_keeps_its_own_objects_out_of_the_collector(app):
    """The lifespan froze what start-up built (so a full collection does not walk it
    during requests) and collects young objects less often (web.app)."""
    assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold()[0] == YOUNGEST_GENERATION_THRESHOLD
