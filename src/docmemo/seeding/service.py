"""Writing the procedural registry to PostgreSQL (SPEC §2).

Why it is built this way:

- One transaction: the old data is dropped and the new written atomically, so
  a failed or interrupted rebuild leaves the previous registry intact and other
  processes never see a half-filled one. TRUNCATE also takes ACCESS EXCLUSIVE
  locks, so API requests simply wait for the rebuild to finish.
- A transaction-level advisory lock: a rebuild started while another runs is
  refused at once (``RebuildInProgress``) rather than queued, since a queued one
  would silently replace, a minute later, the registry the first has just built
  (and its caller would wait without being told why); two service replicas
  starting together on an empty database seed it once (``seed_if_empty`` waits
  for the same lock, then checks emptiness while holding it).
- COPY, not INSERT: one round trip per table instead of one per row. Order:
  users, caregivers, health professionals, patients, then the patients' MMSE
  assessments, simulated by a thread while the other tables load, into compact
  arrays (``_HistoriesAhead``; never as row objects).
  Rows arrive in ``user_id`` order (see the generator), so the primary keys grow
  at their right edge; assessment ids restart at 1, so the same seed gives the
  same ids. ``patients.mmse`` is each patient's last assessment by construction.
  ``FREEZE`` (allowed because the tables were truncated in this transaction)
  writes the rows already frozen and all-visible, so the first queries after a
  rebuild need no hint-bit writes and can use index-only scans.
- Rules checked once, not per row (``_bulk_load``), as pg_restore does: foreign
  keys, unique constraints and secondary indexes are dropped for the load and
  built again after it, and the deferred role-row trigger is replaced by one
  anti-join. Every rule still holds at commit; the data is checked as strictly.
- Cost at 1,000,000 users on 2 cores (PostgreSQL 15, default settings, another
  benchmark running beside it), about 40 s: 6 s generation, 13 s COPY users,
  7 s the role tables, 11 s building the indexes and validating the keys (the
  unique index on ``name_key(name)`` alone 5 s), 2 s the role check and ANALYZE.
  Checking each row as it arrived took 50 s more.
- One password hash for everyone: Argon2id is slow on purpose (tens of
  milliseconds), so hashing per user would take hours at 1,000,000 users. The
  shared demonstration password is hashed once; the password itself never
  appears in the report.
- Overlapped: once the lock is held, the registry is generated (pure Python, one
  core) and the password hashed (argon2-cffi releases the GIL: another core) in
  threads while the server truncates the tables and drops what ``_bulk_load``
  rebuilds (about 0.15 s even on a new database, the server's other core), and the
  histories are simulated while the other tables load. At 10,000 users the command's
  fixed costs are of the same order as the seeding itself, and this is a part of them.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple, TypeVar

import psycopg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Connection, Engine, text

from docmemo.auth.passwords import hash_password
from docmemo.db.models import Role, Specialty
from docmemo.errors import RebuildInProgress
from docmemo.seeding.generator import Registry, generate_registry

# Key of the advisory lock of rebuilds ("docmemos" in ASCII). Not the migrations' key
# ("docmemo"): `docmemo seed` migrates first, and a second rebuild must get to its
# refusal at once, not wait at the migration lock for the first rebuild to end.
ADVISORY_LOCK_KEY = 0x646F636D656D6F73
REGISTRY_TABLES = (
    "users, patients, caregivers, healthpros, assessments,"
    " sessions, login_throttle, login_address_throttle"
)
PROGRESS_STEP = 10_000  # rows between progress-bar refreshes

T = TypeVar("T")


class SampleAccount(NamedTuple):
    """An account to log in with, shown at the end of a rebuild."""

    name: str
    status: str
    specialty: str | None


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What a rebuild wrote. Deliberately holds no password and no hash."""

    users: int
    patients: int
    caregivers: int
    healthpros: int
    general: int
    psychologists: int
    neurologists: int
    seed: int  # the seed actually used, also when a random one was drawn
    elapsed_s: float
    sample_accounts: list[SampleAccount]
    assessments: int = 0  # MMSE assessments of the patients' histories


def registry_is_empty(engine: Engine) -> bool:
    """Whether the users table has no row."""
    with engine.connect() as conn:
        return not _has_users(conn)


def _has_users(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM users)")).scalar_one())


def rebuild_registry(
    engine: Engine, users: int, seed: int | None, password: str, progress: bool = True
) -> SeedReport:
    """Drop every user, session and login throttle, and write ``users`` new users.

    ``seed=None`` picks a random seed (reported in ``SeedReport.seed``);
    ``progress`` shows a progress bar on standard error. Raises RebuildInProgress,
    changing nothing, while another rebuild (or a first seeding) runs.
    """
    report = _seed(engine, users, seed, password, progress, only_if_empty=False)
    assert report is not None
    return report


def seed_if_empty(
    engine: Engine, users: int, seed: int | None, password: str, progress: bool = True
) -> SeedReport | None:
    """Seed like ``rebuild_registry``, but only when there is no user yet.

    The emptiness check and the load happen under the rebuild lock in one
    transaction, so of several processes starting together exactly one seeds
    and the others, once the lock is theirs, see the users and return ``None``.
    """
    if not registry_is_empty(engine):  # the common case: no lock, no hashing
        return None
    return _seed(engine, users, seed, password, progress, only_if_empty=True)


def _seed(
    engine: Engine,
    users: int,
    seed: int | None,
    password: str,
    progress: bool,
    *,
    only_if_empty: bool,
) -> SeedReport | None:
    started = time.perf_counter()
    with _progress_bar(progress) as bar:
        with engine.begin() as conn:
            _lock(conn, wait=only_if_empty)
            if only_if_empty and _has_users(conn):
                return None
            task = bar.add_task("Generating users", total=None)
            # The client's work starts now, in threads, while the server empties the
            # tables (see "Overlapped" in the module docstring).
            registry = _in_thread(_generate, users, seed, bar, task)
            password_hash = _in_thread(hash_password, password)
            assessments = _load(conn, registry.result, password_hash.result, bar)
            commit_task = bar.add_task("Committing", total=None)
        bar.update(commit_task, total=1, completed=1)
    return _report(registry.result(), assessments, started)


def _generate(users: int, seed: int | None, bar: Progress, task: TaskID) -> Registry:
    registry = generate_registry(users, seed)
    bar.update(task, total=1, completed=1)
    return registry


def _in_thread(function: Callable[..., T], *args: object) -> Future[T]:
    """``function(*args)``, computed in a thread of its own.

    A daemon thread rather than an executor's: a seeding interrupted (Ctrl-C) or
    failed while the generator runs ends at once, where an executor would first
    wait for the generator to finish (seconds at millions of users).
    """
    future: Future[T] = Future()

    def run() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(function(*args))
        except BaseException as error:  # given to whoever waits for the result
            future.set_exception(error)

    threading.Thread(target=run, name=f"seeding-{function.__name__}", daemon=True).start()
    return future


def _lock(conn: Connection, *, wait: bool) -> None:
    """Take the rebuild lock for this transaction; without ``wait``, refuse
    (RebuildInProgress) if another transaction holds it."""
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        return
    taken = conn.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
    ).scalar_one()
    if not taken:
        raise RebuildInProgress()


# What is dropped for the load and built again after it, on the tables loaded:
# foreign keys first (they depend on the unique constraints), then the unique
# constraints and the indexes other than the primary keys. Built again in reverse.
# (Foreign keys of other tables that point at these count too.)
_LOADED_TABLES = ["users", "caregivers", "healthpros", "patients", "assessments"]
_DROPPED_FOR_LOAD = text("""
    SELECT drop_statement, add_statement FROM (
        SELECT 1 AS step, conrelid::regclass::text AS tbl, conname::text AS object,
               format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
               format('ALTER TABLE %s ADD CONSTRAINT %I %s',
                      conrelid::regclass, conname, pg_get_constraintdef(oid))
        FROM pg_constraint
        WHERE (contype = 'f' AND (conrelid = ANY(CAST(:tables AS regclass[]))
                                  OR confrelid = ANY(CAST(:tables AS regclass[]))))
           OR (contype = 'u' AND conrelid = ANY(CAST(:tables AS regclass[])))
        UNION ALL
        SELECT 2, indrelid::regclass::text, indexrelid::regclass::text,
               format('DROP INDEX %s', indexrelid::regclass),
               pg_get_indexdef(indexrelid)
        FROM pg_index
        WHERE indrelid = ANY(CAST(:tables AS regclass[])) AND NOT indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = indexrelid)
    ) AS objects (step, tbl, object, drop_statement, add_statement)
    ORDER BY step, tbl, object
""")
_USERS_WITHOUT_ROLE_ROW = text("""
    SELECT count(*) FROM users u
    WHERE NOT EXISTS (SELECT 1 FROM patients r WHERE r.user_id = u.user_id)
      AND NOT EXISTS (SELECT 1 FROM caregivers r WHERE r.user_id = u.user_id)
      AND NOT EXISTS (SELECT 1 FROM healthpros r WHERE r.user_id = u.user_id)
""")


@contextmanager
def _bulk_load(conn: Connection, bar: Progress) -> Iterator[None]:
    """Build indexes and check rules once for the whole load instead of row by row.

    As pg_restore does: the foreign keys, unique constraints and secondary indexes
    of the loaded tables are dropped for the load and built again after it (an index
    built from all rows at once is a sort; a foreign key added back is validated by
    one join), and the deferred "every user has its role row" trigger is disabled for
    the load and its rule checked by one anti-join. When the transaction commits,
    every rule holds as before and every index, key and trigger is back; it is all
    DDL inside the caller's transaction, so a failure leaves everything as it was.
    """
    dropped = conn.execute(_DROPPED_FOR_LOAD, {"tables": _LOADED_TABLES}).all()
    # The first drops (the foreign keys) must go first: by construction they do.
    for drop, _ in dropped:
        conn.execute(text(drop))
    conn.execute(text("ALTER TABLE users DISABLE TRIGGER users_check_role_row"))
    yield
    task = bar.add_task("Building indexes, checking keys", total=len(dropped) + 1)
    conn.execute(text("ALTER TABLE users ENABLE TRIGGER users_check_role_row"))
    for _, add in reversed(dropped):
        conn.execute(text(add))
        bar.advance(task)
    missing = conn.execute(_USERS_WITHOUT_ROLE_ROW).scalar_one()
    if missing:
        raise RuntimeError(f"{missing} generated users have no role row")
    bar.advance(task)


def _load(
    conn: Connection,
    get_registry: Callable[[], Registry],
    get_password_hash: Callable[[], str],
    bar: Progress,
) -> int:
    """Empty the tables and COPY the registry in, inside the caller's transaction;
    return how many assessments were written.

    ``get_registry()`` and ``get_password_hash()`` are only called once the tables are
    empty and their keys dropped, so that the caller can compute them meanwhile.
    """
    conn.execute(text(f"TRUNCATE {REGISTRY_TABLES} RESTART IDENTITY CASCADE"))
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection), "seeding needs the psycopg 3 driver"
    with _bulk_load(conn, bar):
        registry, password_hash = get_registry(), get_password_hash()
        counts = registry.counts
        with raw.cursor() as cur, _histories_ahead(registry) as histories:
            _copy(
                cur,
                "COPY users (user_id, name, password, status) FROM STDIN (FREEZE)",
                (
                    (user_id, name, password_hash, status)
                    for user_id, name, status in registry.users()
                ),
                counts.total,
                bar,
                "Users",
            )
            _copy(
                cur,
                "COPY caregivers (user_id, name) FROM STDIN (FREEZE)",
                registry.caregivers(),
                counts.caregivers,
                bar,
                "Caregivers",
            )
            _copy(
                cur,
                "COPY healthpros (user_id, name, specialty) FROM STDIN (FREEZE)",
                registry.healthpros(),
                counts.healthpros,
                bar,
                "Health professionals",
            )
            _copy(
                cur,
                "COPY patients (user_id, name, age, mmse, caregiver_id) FROM STDIN (FREEZE)",
                registry.patients(),
                counts.patients,
                bar,
                "Patients",
            )
            assessments = _copy(
                cur,
                "COPY assessments (patient_id, mmse, assessed_at) FROM STDIN (FREEZE)",
                histories.rows(),
                None,
                bar,
                "Assessments",
            )
    # Fresh planner statistics, so that the first queries after a rebuild are planned
    # for the new row counts rather than for the emptied tables.
    conn.execute(text("ANALYZE users, patients, caregivers, healthpros, assessments"))
    return assessments


class _HistoriesAhead:
    """The patients' MMSE histories, simulated in a thread while the other tables load.

    Simulating costs the client about 25 µs of pure Python per patient (15 s at
    1,000,000 users), while loading the other tables keeps the server busy and leaves
    the client waiting on its socket (psycopg waits without holding the GIL): done
    meanwhile, it costs almost no time. Kept compact, 5 bytes per assessment (a score
    and a day number; 13 MB at 1,000,000 users) where row tuples would take 300 MB.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._visits = array("B")  # per patient, in the order of registry.patients()
        self._scores = array("b")
        self._days = array("i")  # date.toordinal()
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._simulate, name="histories", daemon=True)
        self._thread.start()

    def _simulate(self) -> None:
        visits, scores, days = self._visits, self._scores, self._days
        try:
            for history in self._registry.histories():
                if self._stop.is_set():
                    return
                visits.append(len(history))
                for assessed_at, score in history:
                    days.append(assessed_at.toordinal())
                    scores.append(score)
        except BaseException as error:  # raised again by rows(), in the loader's thread
            self._error = error

    def rows(self) -> Iterator[tuple[str, int, date]]:
        """``(patient_id, mmse, assessed_at)``, as ``Registry.assessments()`` gives them."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        scores, days, from_ordinal = self._scores, self._days, date.fromordinal
        patient_ids = (patient[0] for patient in self._registry.patients())
        end = 0
        for patient_id, visits in zip(patient_ids, self._visits, strict=True):
            start, end = end, end + visits
            for i in range(start, end):
                yield patient_id, scores[i], from_ordinal(days[i])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def _histories_ahead(registry: Registry) -> Iterator[_HistoriesAhead]:
    histories = _HistoriesAhead(registry)
    try:
        yield histories
    finally:
        histories.stop()  # a failed load does not leave it simulating


def _copy(
    cur: psycopg.Cursor,
    statement: str,
    rows: Iterable[Sequence[object]],
    total: int | None,
    bar: Progress,
    description: str,
) -> int:
    """COPY the rows in; return how many. ``total=None``: not known beforehand."""
    task = bar.add_task(description, total=total)
    done = 0
    with cur.copy(statement) as copy:
        write_row = copy.write_row
        for done, row in enumerate(rows, 1):
            write_row(row)
            if done % PROGRESS_STEP == 0 and (total is None or done < total):
                bar.update(task, completed=done)
    bar.update(task, total=done, completed=done, description=description)
    return done


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def _sample_accounts(registry: Registry) -> list[SampleAccount]:
    """The first user of each role and specialty, where there is one."""
    blocks: list[tuple[range, Role, Specialty | None]] = [
        (registry.patient_range, Role.PATIENT, None),
        (registry.caregiver_range, Role.CAREGIVER, None),
        *((registry.specialty_range(s), Role.HEALTHPRO, s) for s in Specialty),
    ]
    return [
        SampleAccount(registry.names[block[0]], role.value, specialty.value if specialty else None)
        for block, role, specialty in blocks
        if block
    ]


def _report(registry: Registry, assessments: int, started: float) -> SeedReport:
    counts = registry.counts
    return SeedReport(
        users=counts.total,
        patients=counts.patients,
        caregivers=counts.caregivers,
        healthpros=counts.healthpros,
        general=counts.general,
        psychologists=counts.psychologists,
        neurologists=counts.neurologists,
        seed=registry.seed,
        elapsed_s=time.perf_counter() - started,
        sample_accounts=_sample_accounts(registry),
        assessments=assessments,
    )
