"""Health values never reach a log; the audit trail records the client's address as
uvicorn reports it (issue 5, item 4)."""

from __future__ import annotations

import io
import logging
import re
import uuid
from urllib.parse import quote

import httpx
import psycopg
import pytest
from sqlalchemy import make_url

from docmemo.audit.service import normalize_address
from docmemo.web.logging import RedactSecrets, WithholdExceptionMessages, redact_secrets
from tests.processes import DEMO_PASSWORD, Server, base_env, fresh_database


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "/create_user/Jo?status=patient&password=pw&age=83&mmse=17&caregiver_id=ab12",
            "/create_user/Jo?status=patient&password=[REDACTED]&age=[REDACTED]"
            "&mmse=[REDACTED]&caregiver_id=[REDACTED]",
        ),
        # Keys as the API reads them: percent-decoded, any case.
        (
            "/create_user/Jo?%6Dmse=17&A%67e=83",
            "/create_user/Jo?%6Dmse=[REDACTED]&A%67e=[REDACTED]",
        ),
        ("/login?name=Ann&PassWord=s3cret", "/login?name=Ann&PassWord=[REDACTED]"),
        # Thresholds of a count are no one's health data.
        ("/count_over/20?min_age=60&max_age=80", "/count_over/20?min_age=60&max_age=80"),
        ("/patients/Jo/audit?limit=5", "/patients/Jo/audit?limit=5"),
        ("/status", "/status"),
    ],
)
def test_health_values_and_secrets_are_redacted_from_request_lines(path, expected):
    assert redact_secrets(path) == expected


def test_the_access_filter_rewrites_uvicorns_request_line():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/create_user/Jo?status=patient&age=83&mmse=17", "1.1", 201),
        None,
    )
    assert RedactSecrets().filter(record)
    assert "83" not in record.getMessage()
    assert "17" not in record.getMessage()


def _filtered_logger() -> tuple[logging.Logger, io.StringIO]:
    """A logger of its own whose handler has the filter `docmemo serve` installs, and
    what it writes."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.addFilter(WithholdExceptionMessages())
    logger = logging.getLogger(f"tests.audit.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.propagate = False
    return logger, output


def _log_through_filter(database_url: str) -> str:
    """A real PostgreSQL error about a patient's row, logged by log.exception through
    the filter that `docmemo serve` puts on its handlers."""
    logger, output = _filtered_logger()
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    try:
        with psycopg.connect(conninfo) as conn:
            conn.execute(
                "INSERT INTO patients (user_id, name, age, mmse) "
                "VALUES (%s, 'Leaky Patient', 117, 31)",
                (uuid.uuid4().hex,),
            )
    except psycopg.Error:
        logger.exception("unexpected error")
    finally:
        logger.handlers.clear()
    return output.getvalue()


def test_logged_exceptions_keep_their_traceback_but_not_their_message(database_url):
    logged = _log_through_filter(database_url)
    assert "unexpected error" in logged
    assert "Traceback (most recent call last)" in logged
    assert "_log_through_filter" in logged  # where it happened
    assert "SQLSTATE 23514" in logged  # what happened: a check violation
    assert "[message withheld" in logged
    # The message names the failing row (117, 31): none of it is logged.
    assert "117" not in logged
    assert "Leaky Patient" not in logged
    assert "violates" not in logged


def test_chained_exceptions_are_all_withheld():
    logger, output = _filtered_logger()
    # The messages are built at run time: a traceback shows source lines, not values.
    record = {"mmse": 17, "age": 83}
    try:
        try:
            raise ValueError(f"invalid {record}")
        except ValueError as error:
            raise RuntimeError(f"failed with {record['age'] * 10}") from error
    except RuntimeError:
        logger.exception("failed")
    logged = output.getvalue()
    assert "ValueError" in logged
    assert "RuntimeError" in logged
    assert "direct cause" in logged
    assert "'mmse': 17" not in logged
    assert "830" not in logged


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("testclient", None),
        ("", None),
        (None, None),
    ],
)
def test_client_addresses_are_stored_as_ip_addresses_or_not_at_all(host, address):
    assert normalize_address(host) == address


@pytest.fixture
def served_database(database_url: str) -> str:
    return fresh_database(database_url, "docmemo_audit_serve_test")


def test_the_server_logs_no_health_value_and_audits_the_forwarded_address(
    served_database, tmp_path
):
    """`docmemo serve` as deployed: the access log, an error's log, and the address
    filed in the trail when a proxy on this host forwards the client's."""
    name = f"Logged Patient {uuid.uuid4().hex[:8]}x"
    forwarded = {"X-Forwarded-For": "198.51.100.77"}
    server = Server(base_env(DATABASE_URL=served_database), tmp_path)
    try:
        server.wait_ready()
        conninfo = make_url(served_database).set(drivername="postgresql")
        with psycopg.connect(conninfo.render_as_string(False), autocommit=True) as conn:
            neurologist = conn.execute(
                "SELECT name FROM healthpros WHERE specialty = 'neurologist' LIMIT 1"
            ).fetchone()[0]
            # Inserting this patient fails with a message that quotes the row.
            conn.execute("""
                CREATE FUNCTION test_quote_row() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'quoting %', NEW; END $$""")
            conn.execute("""
                CREATE TRIGGER test_quote_row BEFORE INSERT ON patients FOR EACH ROW
                WHEN (NEW.name LIKE 'Quoted %') EXECUTE FUNCTION test_quote_row()""")
        with httpx.Client(base_url=server.url, headers=forwarded) as http:
            # A percent-encoded parameter name, as the API decodes it: still redacted.
            created = http.post(
                f"/create_user/{quote(name)}?status=patient&password=pw&age=117&%6Dmse=23"
            )
            assert created.status_code == 201, created.text
            # On a connection of its own: uvicorn closes the one an exception went through.
            failed = httpx.post(
                f"{server.url}/create_user/Quoted {name}",
                params={"status": "patient", "password": "pw", "age": 116, "mmse": 22},
            )
            assert failed.status_code == 500
            assert failed.json() == {"detail": "Internal server error"}
            login = http.post("/login", data={"name": neurologist, "password": DEMO_PASSWORD})
            assert login.status_code == 200
            assert http.get(f"/get_user_by_name/{name}").status_code == 200
            trail = http.get(f"/patients/{name}/audit").json()
    finally:
        server.stop()
    log = server.output()
    assert [(e["action"], e["address"]) for e in trail["events"]] == [
        ("read_record", "198.51.100.77"),
        ("create_user", "198.51.100.77"),
    ]
    create_lines = [line for line in log.splitlines() if "POST /create_user/" in line]
    assert len(create_lines) == 2
    assert all("age=[REDACTED]" in line for line in create_lines)
    assert not re.search(r"age=1\d\d|mmse=2\d", log)
    # The failed insert was logged, by the service and by uvicorn, without its row.
    assert log.count("RaiseException (SQLSTATE P0001): [message withheld") >= 1
    assert "Exception in ASGI application" in log
    assert "quoting" not in log
    assert ",117," not in log
    assert ",116," not in log
