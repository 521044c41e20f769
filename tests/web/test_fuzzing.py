"""API fuzzing: schemathesis generates requests from the app's own OpenAPI schema
and checks every answer against it (issue 5, item 1).

In process, on the real ASGI app and the real test database: every operation and
method of /openapi.json, each generated case sent once without a session and once
with a session of each role (patient, caregiver, general practitioner,
psychologist, neurologist, as a bearer token). Checks: no 5xx, a declared status
code, the declared content type and response schema, schema-valid requests
accepted, schema-invalid ones refused, undeclared methods answered 405 with a
truthful Allow header. The seed is fixed and generation derandomized, so that a
run in CI replays the same cases as here; the counts are printed at the end.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.python import asgi
from sqlalchemy import Engine, text

from docmemo.auth.service import token_digest
from docmemo.config import Settings
from docmemo.seeding.service import rebuild_registry
from docmemo.web.app import create_app

# Cases generated per operation by the fuzzing phase (the coverage and examples
# phases add their own deterministic cases on top). Each case is sent once per
# identity below, so an operation gets about 6 x this many requests.
CASES_PER_OPERATION = 200
# Operations that verify a password with Argon2 on nearly every request (40 ms of a
# core each, on purpose: as slow for an unknown name as for a wrong password, and on
# two hashing threads only). 200 cases x 6 identities would take about a minute
# each; fewer cases there keep the whole file within two minutes. Failed logins are
# throttled (429) per name and per address (the test client has no IP address, so
# all of its requests share one bucket, spent after 50 failures): an answer the
# schema declares, checked like any other, not a failure.
PASSWORD_CHECKING_CASES = 25
PASSWORD_CHECKING_OPERATIONS = ("GET /login", "POST /login", "POST /change_password")
SEED = 20260505
REGISTRY_USERS = 200
DEMO_PASSWORD = "Fuzz-Demo-Password-1"
ROLES = ("patient", "caregiver", "general", "psychologist", "neurologist")

# A copy of a session row under a new token, whatever other columns the table has.
_CLONE_SESSION = text("""
    INSERT INTO sessions
    SELECT (jsonb_populate_record(
        NULL::sessions, to_jsonb(s) || jsonb_build_object('token_hash', CAST(:hash AS bytea))
    )).*
    FROM sessions s WHERE s.token_hash = :template_hash
""")


@dataclass
class Identities:
    """A session per role, kept usable: fuzzed logouts end the sessions they are sent."""

    engine: Engine
    settings: Settings
    templates: dict[str, bytes]  # role -> token hash of a session never sent
    tokens: dict[str, str] = field(default_factory=dict)
    stale: bool = True

    def renew(self) -> None:
        """A fresh session per role, copied from its template session."""
        if not self.stale:
            return
        with self.engine.begin() as conn:
            for role, template_hash in self.templates.items():
                token = secrets.token_urlsafe(32)
                conn.execute(
                    _CLONE_SESSION,
                    {
                        "hash": token_digest(token, self.settings.secret_key),
                        "template_hash": template_hash,
                    },
                )
                self.tokens[role] = token
        self.stale = False

    def headers(self) -> Iterator[dict[str, str]]:
        """Without a session, then as each role. The app ignores X-Test-Identity; it is
        there to name the identity in the curl line of a failure (the token is masked)."""
        yield {"X-Test-Identity": "anonymous"}
        for role in ROLES:
            yield {"X-Test-Identity": role, "Authorization": f"Bearer {self.tokens[role]}"}


@dataclass
class Tally:
    """What the run did, printed at its end (docs/RELIABILITY.md quotes it)."""

    cases: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)

    def summary(self) -> list[str]:
        lines = [
            f"{'operation':<45} {'cases':>6} {'requests':>9} {'seconds':>8}",
            *(
                f"{label:<45} {self.cases[label]:>6} {self.requests[label]:>9}"
                f" {self.seconds[label]:>8.1f}"
                for label in sorted(self.cases)
            ),
            f"{'total':<45} {self.cases.total():>6} {self.requests.total():>9}"
            f" {self.seconds.total():>8.1f}",
            "statuses: " + ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items())),
        ]
        return lines


TALLY = Tally()


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # Hypothesis' health checks judge the generator, not the API; on a busy
            # machine "too slow" would fail a run that found nothing.
            "suppress-health-check": ["all"],
            "generation": {
                "max-examples": CASES_PER_OPERATION,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                "enabled": True,
                # A request the schema allows may still break a rule OpenAPI cannot state:
                # parameters that must fit the role (age and mmse for patients only), a name
                # of letters, digits and a few punctuation marks in any script (Unicode
                # categories have no portable JSON Schema pattern), min_age <= max_age.
                # The service refuses those with the 422 every operation declares; the check
                # below makes sure it is the service, never request validation, that does.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
                },
            },
            "operations": [
                {
                    "include-name": list(PASSWORD_CHECKING_OPERATIONS),
                    "generation": {"max-examples": PASSWORD_CHECKING_CASES},
                },
            ],
        }
    )


# The schema as the app publishes it; built here, at collection, to get one test per
# operation (no database is needed to build it). The app under test is the fixture's.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(_env_file=None)).openapi(), config=_config()
)


@pytest.fixture(scope="module", autouse=True)
def print_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not TALLY.cases:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(f"API fuzzing (schemathesis {schemathesis.__version__}, seed {SEED}):")
        for line in TALLY.summary():
            reporter.write_line(line)


@pytest.fixture(scope="module")
def fuzzed_app(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings)
    yield app
    # schemathesis ran the app's lifespan (its pool) in an event loop of its own.
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def http(fuzzed_app: FastAPI) -> Iterator[asgi.ASGIClient]:
    """One in-process client for the whole run (schemathesis would make one per request)."""
    with asgi.get_client(fuzzed_app) as client:
        # Not a proxy lookup in the environment per request: 0.6 ms each.
        client.trust_env = False
        yield client


@pytest.fixture(scope="module")
def identities(http: asgi.ASGIClient, sync_engine: Engine, settings: Settings) -> Identities:
    """A small generated registry, and one logged-in session per role."""
    report = rebuild_registry(sync_engine, REGISTRY_USERS, SEED, DEMO_PASSWORD, progress=False)
    accounts = {specialty or status: name for name, status, specialty in report.sample_accounts}
    templates = {}
    for role in ROLES:
        answer = http.post("/login", data={"name": accounts[role], "password": DEMO_PASSWORD})
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        templates[role] = token_digest(token, settings.secret_key)
    http.cookies.clear()
    found = Identities(sync_engine, settings, templates)
    found.renew()
    return found


def refused_only_by_rules_beyond_the_schema(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """Request validation is generated from the same declarations as the schema, so it
    must accept what the schema allows: a 422 for schema-valid input may come only from
    a service's own rule (``{"detail"}``), never from validation (which lists ``errors``)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if response.status_code == 422 and "errors" in response.json():
        raise AssertionError(f"schema-valid input refused by request validation: {response.text}")


@schema.parametrize()
def test_every_answer_conforms_to_the_schema(
    case: schemathesis.Case, http: asgi.ASGIClient, identities: Identities
) -> None:
    started = time.monotonic()
    label = case.operation.label  # undeclared methods sent to its path count as its cases
    TALLY.cases[label] += 1
    identities.renew()
    # A logout (or any other write) may end the sessions it is sent: new ones next time.
    identities.stale = case.method.upper() != "GET"
    for headers in identities.headers():
        try:
            response = case.call_and_validate(
                headers=headers,
                session=http,
                app=http.app,
                additional_checks=[refused_only_by_rules_beyond_the_schema],
            )
        finally:
            http.cookies.clear()  # each request carries only the session it is given
        TALLY.requests[label] += 1
        TALLY.statuses[response.status_code] += 1
    TALLY.seconds[label] += time.monotonic() - started


async def test_a_405_allows_every_method_of_its_path(client) -> None:
    # GET and POST /login are two routes: Starlette alone would answer "Allow: GET".
    answer = await client.request("OPTIONS", "/login")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert answer.json() == {"detail": "Method Not Allowed"}
    assert (await client.delete("/logout")).headers["allow"] == "POST"
