"""The API replicas are stateless: three `docmemo serve` processes behind nginx
(round-robin) on one PostgreSQL recognise each other's sessions, and killing one
with SIGKILL in the middle of a burst of creations loses no user it acknowledged,
leaves no half-written user, and the other two keep answering.

All traffic stays on 127.0.0.1. The two tests share one cluster and run in file
order: the last one kills a replica.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import namedtuple_row
from sqlalchemy import make_url

from tests.processes import (
    DEMO_PASSWORD,
    Server,
    base_env,
    free_port,
    fresh_database,
    spawn,
    stop,
    wait_until_answers,
)

NGINX_TEMPLATE = Path(__file__).with_name("nginx-replicas.conf")
REPLICAS = 3
SEED_USERS = 200
BURST = 300  # creations, each one Argon2 hash (~40 ms of a core)
IN_FLIGHT = 12  # creations sent at once
KILL_AFTER = 100  # answers received before the kill
# nginx talks HTTP/1.0 to its upstreams, so a replica's access log tells proxied
# requests from direct ones (HTTP/1.1).
PROXIED_STATUS = '"GET /status HTTP/1.0" 200'


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail("nginx, this test's load balancer, is not installed: apt-get install nginx")
    return found


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


class Balancer:
    """nginx in front of `replicas` on a free loopback port; its files in `cwd`."""

    def __init__(self, nginx: str, replicas: list[Server], cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cwd = cwd
        upstreams = "\n        ".join(
            f"server 127.0.0.1:{replica.port} max_fails=1 fail_timeout=10s;" for replica in replicas
        )
        config = (
            NGINX_TEMPLATE.read_text()
            .replace("@LISTEN@", f"127.0.0.1:{self.port}")
            .replace("@SERVERS@", upstreams)
        )
        (cwd / "nginx.conf").write_text(config)
        # -e: the error log before the configuration is read (not /var/log/nginx).
        command = [nginx, "-p", f"{cwd}/", "-c", f"{cwd}/nginx.conf", "-e", f"{cwd}/error.log"]
        self.process = spawn(command, env=dict(os.environ), cwd=cwd, log=cwd / "nginx.out")

    def wait_ready(self, timeout_s: float = 20) -> None:
        wait_until_answers(self.process, f"{self.url}/status", self.errors, timeout_s)

    def stop(self) -> None:
        stop(self.process, signal.SIGTERM)  # fast shutdown: master and worker exit

    def errors(self) -> str:
        logs = (self.cwd / "nginx.out", self.cwd / "error.log")
        return "\n".join(path.read_text() for path in logs if path.exists())


@dataclass
class Cluster:
    conninfo: str  # for psycopg
    replicas: list[Server]
    balancer: Balancer


@pytest.fixture(scope="module")
def cluster(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three replicas started at the same time on one fresh database, then nginx."""
    nginx = nginx_binary()
    url = fresh_database(database_url, "docmemo_replicas_test")
    cwd = tmp_path_factory.mktemp("replicas")
    env = base_env(DATABASE_URL=url, DOCMEMO_SEED_USERS=str(SEED_USERS), DOCMEMO_SEED="7")
    with ExitStack() as cleanup:  # stops whatever was started, in reverse order
        replicas = []
        for _ in range(REPLICAS):
            replica = Server(env, cwd, "--host", "127.0.0.1", "--workers", "1")
            cleanup.callback(replica.stop)
            replicas.append(replica)
        for replica in replicas:
            replica.wait_ready()
        balancer = Balancer(nginx, replicas, cwd)
        cleanup.callback(balancer.stop)
        balancer.wait_ready()
        psycopg_url = make_url(url).set(drivername="postgresql")
        yield Cluster(psycopg_url.render_as_string(hide_password=False), replicas, balancer)


def test_replicas_seed_once_take_turns_and_share_sessions(cluster):
    replicas, balancer = cluster.replicas, cluster.balancer
    # Started together on an empty database: one of them generated the registry.
    assert sum("Generated" in replica.output() for replica in replicas) == 1
    with psycopg.connect(cluster.conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (SEED_USERS,)
        (healthpro,) = conn.execute(
            "SELECT u.name FROM users u JOIN healthpros h ON h.user_id = u.user_id "
            "ORDER BY u.name LIMIT 1"
        ).fetchone()

    # Round-robin: nine requests in a row, three for each replica, as nginx reports
    # and as each replica's own access log shows.
    proxied_before = [replica.output().count(PROXIED_STATUS) for replica in replicas]
    served_by = Counter()
    for _ in range(3 * REPLICAS):
        answer = httpx.get(f"{balancer.url}/status")
        assert answer.status_code == 200
        served_by[answer.headers["x-upstream-addr"]] += 1
    assert served_by == {f"127.0.0.1:{replica.port}": 3 for replica in replicas}
    wait_until(
        lambda: (
            [
                replica.output().count(PROXIED_STATUS) - before
                for replica, before in zip(replicas, proxied_before, strict=True)
            ]
            == [3] * REPLICAS
        ),
        "each replica logged its three proxied requests",
    )

    # Logged in through the balancer (by whichever replica), known to every replica.
    login = httpx.post(f"{balancer.url}/login", data={"name": healthpro, "password": DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    user_id = login.json()["user"]["user_id"]
    assert "httponly" in login.headers["set-cookie"].lower()
    cookie = {"Cookie": f"docmemo_session={login.cookies['docmemo_session']}"}
    for replica in replicas:
        who = httpx.get(f"{replica.url}/status", headers=cookie).json()["authentication"]
        assert (who["logged_in"], who["user_id"], who["name"]) == (True, user_id, healthpro)
        record = httpx.get(f"{replica.url}/get_user_by_name/{healthpro}", headers=cookie)
        assert (record.status_code, record.json()["user_id"]) == (200, user_id)
    # Without the cookie, the same replicas know nobody.
    assert httpx.get(f"{replicas[0].url}/status").json()["authentication"]["logged_in"] is False


@dataclass
class Creation:
    """One POST /create_user of the burst, and what came of it."""

    name: str
    params: dict[str, str | int]
    target: str  # "balancer" or "victim" (sent straight to the replica that gets killed)
    sent_at: float = 0.0
    answered_at: float = 0.0
    status: int | None = None  # HTTP status, or None after a transport error
    error: str | None = None  # the transport error's class
    body: dict | None = None
    upstream: str | None = None  # X-Upstream-Addr: the replica(s) nginx tried

    @property
    def outcome(self) -> str:
        return str(self.status) if self.status is not None else str(self.error)


def tally(creations: list[Creation]) -> Counter[str]:
    """How many creations had each outcome ("201", "502", "ConnectError"…)."""
    return Counter(creation.outcome for creation in creations)


def plan_burst(caregiver_ids: list[str]) -> list[Creation]:
    """Unique caregivers and patients (some with a seeded caregiver). Two thirds go
    through the balancer; one third straight to the replica that will be killed, so
    that it surely has creations in progress when it dies (through nginx it would
    only get a third of two thirds)."""
    run = uuid.uuid4().hex[:8]
    creations = []
    for index in range(BURST):
        params: dict[str, str | int] = {"password": f"Burst-{index}-pw"}
        if index % 2:
            params |= {"status": "patient", "age": 25 + index % 66, "mmse": index % 31}
            if index % 4 == 1:
                params["caregiver_id"] = caregiver_ids[index % len(caregiver_ids)]
        else:
            params["status"] = "caregiver"
        target = "victim" if index % 3 == 2 else "balancer"
        creations.append(Creation(f"Burst {run} {index:03d}", params, target))
    return creations


def run_burst(creations: list[Creation], balancer: Balancer, victim: Server) -> tuple[float, float]:
    """Send every creation, IN_FLIGHT at a time; once KILL_AFTER have been answered,
    SIGKILL the victim. Returns when the kill was sent and when the victim was gone."""
    answered = 0
    lock = threading.Lock()
    kill_now = threading.Event()

    with ExitStack() as stack:
        clients = {
            name: stack.enter_context(
                httpx.Client(
                    base_url=url,
                    timeout=30,
                    limits=httpx.Limits(max_connections=IN_FLIGHT),
                )
            )
            for name, url in (("balancer", balancer.url), ("victim", victim.url))
        }

        def create(creation: Creation) -> None:
            nonlocal answered
            creation.sent_at = time.monotonic()
            try:
                answer = clients[creation.target].post(
                    f"/create_user/{creation.name}", params=creation.params
                )
            except httpx.TransportError as error:
                creation.error = type(error).__name__
            else:
                creation.status = answer.status_code
                creation.body = answer.json() if answer.status_code == 201 else None
                creation.upstream = answer.headers.get("x-upstream-addr")
            creation.answered_at = time.monotonic()
            with lock:
                answered += 1
                if answered == KILL_AFTER:
                    kill_now.set()

        pool = stack.enter_context(ThreadPoolExecutor(IN_FLIGHT))
        futures = [pool.submit(create, creation) for creation in creations]
        assert kill_now.wait(timeout=60), "the burst stalled before the kill"
        kill_sent_at = time.monotonic()
        os.kill(victim.process.pid, signal.SIGKILL)
        assert victim.process.wait(timeout=10) == -signal.SIGKILL
        gone_at = time.monotonic()  # reaped: its sockets are closed
        for future in futures:
            future.result()
    return kill_sent_at, gone_at


_ROWS = """
    SELECT u.name, u.user_id, u.status, p.age, p.mmse, p.caregiver_id,
           c.user_id IS NOT NULL AS is_caregiver
    FROM users u
    LEFT JOIN patients p ON p.user_id = u.user_id
    LEFT JOIN caregivers c ON c.user_id = u.user_id
    WHERE u.name LIKE %s
"""
# Every user with exactly one role row, in the table of its status; every role row
# with its user. Lists whatever breaks that, in the whole registry.
_HALF_WRITTEN = """
    WITH roles AS (
        SELECT user_id, 'patient' AS status FROM patients
        UNION ALL SELECT user_id, 'caregiver' FROM caregivers
        UNION ALL SELECT user_id, 'healthpro' FROM healthpros
    )
    SELECT 'user without its role row', u.user_id FROM users u
    WHERE NOT EXISTS (
        SELECT 1 FROM roles r WHERE r.user_id = u.user_id AND r.status = u.status
    )
    UNION ALL
    SELECT 'several role rows', user_id FROM roles GROUP BY user_id HAVING count(*) > 1
    UNION ALL
    SELECT 'role row without its user', r.user_id FROM roles r
    WHERE NOT EXISTS (
        SELECT 1 FROM users u WHERE u.user_id = r.user_id AND u.status = r.status
    )
"""


def test_a_replica_killed_mid_burst_loses_no_acknowledged_user(cluster):
    victim, *survivors = cluster.replicas
    balancer = cluster.balancer
    survivor_addrs = {f"127.0.0.1:{replica.port}" for replica in survivors}
    with psycopg.connect(cluster.conninfo) as conn:
        caregiver_ids = [
            user_id for (user_id,) in conn.execute("SELECT user_id FROM caregivers LIMIT 8")
        ]
    creations = plan_burst(caregiver_ids)

    kill_sent_at, gone_at = run_burst(creations, balancer, victim)

    # With --workers 1 the `docmemo serve` process is the server: nothing serves on.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{victim.url}/status")

    # The kill came in the middle: all was well before it, and it hit creations in
    # progress (502 from nginx, or a broken connection straight to the victim).
    before = [c for c in creations if c.answered_at < kill_sent_at]
    in_progress = [c for c in creations if c.sent_at < gone_at and c.answered_at >= kill_sent_at]
    after = [c for c in creations if c.sent_at > gone_at]
    assert len(before) >= KILL_AFTER
    assert set(tally(before)) == {"201"}, tally(before)
    assert len(after) >= BURST // 3, tally(after)
    assert set(tally(in_progress)) - {"201"}, tally(in_progress)

    # After it, nginx routed around the dead replica: every creation sent through it
    # was acknowledged, by a survivor (after retrying a refused connection, at most).
    through_balancer = [c for c in after if c.target == "balancer"]
    assert len(through_balancer) >= BURST // 5, tally(after)
    assert set(tally(through_balancer)) == {"201"}, tally(through_balancer)
    assert {c.upstream.split(", ")[-1] for c in through_balancer} == survivor_addrs
    # Sent straight to the dead replica: refused, so never even sent.
    straight_to_victim = [c for c in after if c.target == "victim"]
    assert set(tally(straight_to_victim)) == {"ConnectError"}, tally(straight_to_victim)

    # Nothing else went wrong: no 4xx, no 500; through nginx, 201 or 502 (the
    # victim died while handling it); broken connections only straight to the victim.
    balanced = [c for c in creations if c.target == "balancer"]
    assert set(tally(balanced)) <= {"201", "502"}, tally(balanced)
    straight = [c for c in creations if c.target == "victim"]
    assert all(c.status in (201, None) for c in straight), tally(straight)
    acknowledged = [c for c in creations if c.status == 201]
    assert len(acknowledged) > BURST // 2, tally(creations)

    with psycopg.connect(cluster.conninfo, row_factory=namedtuple_row) as conn:
        prefix = creations[0].name.rsplit(" ", 1)[0]  # "Burst <run>"
        rows = {row.name: row for row in conn.execute(_ROWS, (f"{prefix} %",))}
        half_written = conn.execute(_HALF_WRITTEN).fetchall()
        total_users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    assert half_written == []
    # Every acknowledged creation is there, with the values sent and its role row.
    for creation in acknowledged:
        row = rows.get(creation.name)
        assert row is not None, f"{creation.name} was acknowledged but is missing"
        assert (row.user_id, row.status) == (creation.body["user_id"], creation.params["status"])
        if row.status == "patient":
            sent = creation.params
            assert (row.age, row.mmse, row.caregiver_id) == (
                sent["age"],
                sent["mmse"],
                sent.get("caregiver_id"),
            )
        else:
            assert row.is_caregiver
    # The others may exist (committed just before the replica died) or not, but
    # whole (checked above); refused connections created nothing.
    assert set(rows) <= {c.name for c in creations}
    assert not {c.name for c in creations if c.outcome == "ConnectError"} & set(rows)
    assert total_users == SEED_USERS + len(rows)

    # The survivors keep answering, directly and through the balancer.
    for replica in survivors:
        status = httpx.get(f"{replica.url}/status")
        assert status.status_code == 200
        assert status.json()["database"]["users"] == total_users
        assert "Traceback" not in replica.output()
    final_addrs = set()
    for _ in range(2 * REPLICAS):
        answer = httpx.get(f"{balancer.url}/status")
        assert answer.status_code == 200
        final_addrs.add(answer.headers["x-upstream-addr"].split(", ")[-1])
    assert final_addrs == survivor_addrs
