"""Searching names (users.service.search_people): who finds whom, how names fold, and
that the query reads the name indexes of migration 0007 rather than every user."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from sqlalchemy import inspect, text

from docmemo.auth.schemas import Identity
from docmemo.config import Settings
from docmemo.db.engine import sync_engine as make_sync_engine
from docmemo.db.migrate import alembic_config
from docmemo.db.models import Role, Specialty
from docmemo.errors import InvalidInput
from docmemo.users import service
from docmemo.users.names import name_key
from docmemo.users.service import UserRecord, can_read, search_people, search_statement
from tests.helpers import make_user, plan_nodes
from tests.processes import fresh_database


def token() -> str:
    """Letters only, so that every test's names are its own and a query of them has
    three letters in a row (a search anywhere in names)."""
    return "".join(chr(ord("a") + int(digit, 16)) for digit in uuid.uuid4().hex[:10])


def identity(record: UserRecord) -> Identity:
    specialty = Specialty(record.specialty) if record.specialty else None
    return Identity(
        user_id=record.user_id, name=record.name, status=record.status, specialty=specialty
    )


async def names_found(db, viewer: UserRecord | Identity, query: str, **kwargs) -> list[str]:
    who = viewer if isinstance(viewer, Identity) else identity(viewer)
    return [person.name for person in (await search_people(db, who, query, **kwargs)).people]


@pytest.fixture
async def family(pool):
    """Two caregivers with a patient each, and a health professional; every name holds
    the family's own token, in the middle (a search anywhere) and in any case."""
    mark = token()
    carer = await make_user(pool, Role.CAREGIVER, f"Carer {mark.upper()} Aa")
    other_carer = await make_user(pool, Role.CAREGIVER, f"Carer {mark} Bb")
    return {
        "mark": mark,
        "carer": carer,
        "other_carer": other_carer,
        "patient": await make_user(
            pool, Role.PATIENT, f"Patient {mark} Cc", caregiver_id=carer.user_id, age=81
        ),
        "other_patient": await make_user(
            pool, Role.PATIENT, f"Patient {mark.title()} Dd", caregiver_id=other_carer.user_id
        ),
        "lonely_patient": await make_user(pool, Role.PATIENT, f"Patient {mark} Ee"),
        "doctor": await make_user(
            pool, Role.HEALTHPRO, f"Doctor {mark} Ff", specialty=Specialty.NEUROLOGIST
        ),
    }


async def test_everyone_finds_exactly_whom_they_may_read(db, family):
    people = [record for key, record in family.items() if key != "mark"]
    for viewer in people:
        expected = {record.name for record in people if can_read(identity(viewer), record)}
        assert set(await names_found(db, viewer, family["mark"])) == expected, viewer.name


async def test_what_each_role_finds(db, family):
    mark = family["mark"]
    assert len(await names_found(db, family["doctor"], mark)) == 6
    assert set(await names_found(db, family["carer"], mark)) == {
        family["carer"].name,
        family["patient"].name,
    }
    assert await names_found(db, family["patient"], mark) == [family["patient"].name]
    assert await names_found(db, family["lonely_patient"], mark) == [family["lonely_patient"].name]


async def test_results_carry_role_age_and_specialty_but_no_score(db, family):
    results = await search_people(db, identity(family["doctor"]), family["mark"])
    by_name = {person.name: person for person in results.people}
    patient = by_name[family["patient"].name]
    assert (patient.status, patient.age, patient.specialty) == (Role.PATIENT, 81, None)
    doctor = by_name[family["doctor"].name]
    assert (doctor.status, doctor.age, doctor.specialty) == (Role.HEALTHPRO, None, "neurologist")
    assert by_name[family["carer"].name].status is Role.CAREGIVER
    assert not hasattr(patient, "mmse")
    assert (results.found, results.anywhere, results.more) == (6, True, False)


async def test_case_and_unicode_forms_fold_like_every_look_up_by_name(pool, db):
    mark = token()
    jurgen = await make_user(pool, Role.PATIENT, f"Jürgen Straßer {mark}")
    ligature = await make_user(pool, Role.PATIENT, f"FIona Ωmega {mark}")
    doctor = await make_user(pool, Role.HEALTHPRO)
    for query in (
        f"STRASSER {mark}",  # ß is ss, whatever the case
        f"straßer {mark.upper()}",
        f"ju\u0308rgen straßer {mark}",  # ü typed as u + combining diaeresis
        f"ＳＴＲＡＳＳＥＲ {mark}",  # fullwidth letters (NFKC)
    ):
        assert await names_found(db, doctor, query) == [jurgen.name], query
    assert await names_found(db, doctor, f"FIONA ωMEGA {mark}") == [ligature.name]
    # Accents are letters of their own, as for uniqueness: "Jurgen" is someone else.
    assert await names_found(db, doctor, f"jurgen strasser {mark}") == []


async def test_like_metacharacters_are_literal(pool, db):
    mark = token()
    underscore = await make_user(pool, Role.CAREGIVER, f"Meta_x {mark}")
    await make_user(pool, Role.CAREGIVER, f"Metaax {mark}")
    doctor = await make_user(pool, Role.HEALTHPRO)
    assert await names_found(db, doctor, f"a_x {mark}") == [underscore.name]
    for query in (f"meta% {mark}", f"met%x {mark}", f"meta\\_x {mark}", f"%{mark}", "%%%"):
        assert await names_found(db, doctor, query) == [], query


async def test_names_that_begin_with_the_query_come_first_then_words_then_the_rest(pool, db):
    mark = token()
    names = [
        f"Zed Ab{mark}",  # inside a word
        f"{mark}b Zed",  # the name begins with it
        f"Abe {mark}c",  # a later word begins with it
        f"{mark}a Zed",
        f"Abe-{mark}d",  # after a hyphen: a word too
    ]
    for name in names:
        await make_user(pool, Role.CAREGIVER, name)
    doctor = await make_user(pool, Role.HEALTHPRO)
    assert await names_found(db, doctor, mark) == [
        f"{mark}a Zed",
        f"{mark}b Zed",
        f"Abe {mark}c",
        f"Abe-{mark}d",
        f"Zed Ab{mark}",
    ]


async def test_at_most_limit_people_and_the_count_of_all(pool, db):
    mark = token()
    for suffix in ("a", "b", "c", "d", "e"):
        await make_user(pool, Role.CAREGIVER, f"Many {mark} {suffix}")
    doctor = identity(await make_user(pool, Role.HEALTHPRO))
    results = await search_people(db, doctor, mark, limit=3)
    assert [person.name for person in results.people] == [
        f"Many {mark} a",
        f"Many {mark} b",
        f"Many {mark} c",
    ]
    assert (results.found, results.more) == (5, True)


async def test_when_a_page_of_names_begins_with_the_query_the_rest_is_not_counted(pool, db):
    # More names begin with it than a page holds: they fill the page, and nothing
    # else is read, so the total is unknown (a common beginning among a million).
    mark = token()
    for suffix in ("a", "b", "c", "d"):
        await make_user(pool, Role.CAREGIVER, f"{mark} {suffix}")
    await make_user(pool, Role.CAREGIVER, f"Inside {mark}")
    doctor = identity(await make_user(pool, Role.HEALTHPRO))
    results = await search_people(db, doctor, mark, limit=3)
    assert [person.name for person in results.people] == [f"{mark} a", f"{mark} b", f"{mark} c"]
    assert results.found is None
    assert results.more


async def test_one_or_two_letters_match_the_beginning_of_names_only(pool, db):
    mark = token()
    begins = await make_user(pool, Role.CAREGIVER, f"Qz{mark}")
    inside = await make_user(pool, Role.CAREGIVER, f"Xo Qz{mark}")
    doctor = identity(await make_user(pool, Role.HEALTHPRO))
    for query in ("qz", "QZ", "q"):
        results = await search_people(db, doctor, query, limit=100)
        found = [person.name for person in results.people]
        assert not results.anywhere
        assert all(name_key(name).startswith(query.lower()) for name in found), found
        assert inside.name not in found
    assert begins.name in await names_found(db, doctor, "qz", limit=100)
    # Without three letters in a row, even a longer query matches beginnings only.
    assert inside.name not in await names_found(db, doctor, "o qz", limit=100)
    assert (await search_people(db, doctor, "a b")).anywhere is False
    # The same rule for a caregiver, who sees only a handful of people.
    carer = identity(begins)
    assert await names_found(db, carer, "qz") == [begins.name]
    assert await names_found(db, carer, mark[:2]) == []
    assert await names_found(db, carer, mark[:3]) == [begins.name]


@pytest.mark.parametrize(
    "query", ["", "   ", "\x00", "ab\x00cd", "a\tb\ncd", "x" * 101, "\u200b\u200bname"]
)
async def test_nothing_to_look_for_finds_no_one(db, family, query):
    results = await search_people(db, identity(family["doctor"]), query)
    assert (results.people, results.found, results.more) == ([], 0, False)


@pytest.mark.parametrize("limit", [0, -1, 101])
async def test_a_limit_outside_1_to_100_is_refused(db, family, limit):
    with pytest.raises(InvalidInput):
        await search_people(db, identity(family["doctor"]), family["mark"], limit=limit)


# --- the plan: the name indexes of migration 0007, never every user ---------------

HEALTHPRO = Identity(user_id="f" * 32, name="Planner", status=Role.HEALTHPRO)
CAREGIVER = Identity(user_id="e" * 32, name="Carer", status=Role.CAREGIVER)
FIRST_NAMES = ["Maria", "Jean", "Anna", "Marc", "Lucie", "Omar", "Ines", "Paul", "Zoé", "Ida"]
LAST_NAMES = ["Martin", "Dubois", "Bernard", "Tolan", "Brien", "Keller", "Lamar", "Hansen"]


def _plan_nodes(cursor, viewer: Identity, query: str, analyze: bool = False) -> list[dict]:
    """The nodes of the plan of search_people's own SQL and parameters."""
    key = name_key(query)
    anywhere = service._letters_in_a_row(key) >= service.SEARCH_ANYWHERE_FROM
    sql, params = search_statement(viewer, key, anywhere, 20)
    return plan_nodes(cursor, sql, params, analyze=analyze)


@pytest.fixture(scope="module")
def big_registry(sync_engine):
    """40,000 more users (names drawn from short lists, as real names are: "mar" is in
    a fifth of them), statistics gathered, all in a transaction rolled back at the end.
    Their role rows are never written: the check that every user has one runs at
    commit, which never comes."""
    connection = sync_engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO users (user_id, name, password, status)
                SELECT md5('plan' || i), first || ' ' || last || ' ' || i, 'h', 'caregiver'
                FROM generate_series(1, 40000) AS i,
                     LATERAL (SELECT (%(first)s::text[])[1 + i %% 10] AS first,
                                     (%(last)s::text[])[1 + (i / 10) %% 8] AS last) AS names
                """,
                {"first": FIRST_NAMES, "last": LAST_NAMES},
            )
            cursor.execute("ANALYZE users")
            yield cursor
    finally:
        connection.rollback()
        connection.close()


def _reads(nodes: list[dict]) -> set[str]:
    return {node[key] for node in nodes for key in ("Index Name", "Relation Name") if key in node}


def _scans_every_user(nodes: list[dict]) -> bool:
    return any(
        node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "users" for node in nodes
    )


def _rows_of_users_read(nodes: list[dict]) -> int:
    """Rows of users that the executed plan looked at: kept, or thrown away by a
    filter or by the recheck of a lossy index."""
    return sum(
        node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
        + node.get("Rows Removed by Filter", 0)
        + node.get("Rows Removed by Index Recheck", 0)
        for node in nodes
        if node.get("Relation Name") == "users"
    )


@pytest.mark.parametrize("query", ["brien 3999", "39999", "zoé keller 12345"])
def test_a_rare_fragment_is_looked_up_in_the_trigram_index(big_registry, query):
    nodes = _plan_nodes(big_registry, HEALTHPRO, query)
    assert {"ix_users_name_key_trgm", "ix_users_name_key_prefix"} <= _reads(nodes)
    assert not _scans_every_user(nodes)


@pytest.mark.parametrize("query", ["tolan", "keller", "mar", "ida"])
def test_a_common_fragment_reads_a_bounded_part_of_the_users(big_registry, query):
    # "tolan" and "keller" are in an eighth of the names and begin none: the search
    # stops after _SEARCH_CANDIDATES of them, whichever way PostgreSQL reads them.
    # "mar" and "ida" begin more names than a page holds: nothing else is read.
    nodes = _plan_nodes(big_registry, HEALTHPRO, query, analyze=True)
    assert _rows_of_users_read(nodes) < 40_000 / 4


@pytest.mark.parametrize("query", ["m", "ma", "jo m"])
def test_a_short_search_reads_a_range_of_the_prefix_index(big_registry, query):
    nodes = _plan_nodes(big_registry, HEALTHPRO, query)
    [prefix_scan] = [n for n in nodes if n.get("Index Name") == "ix_users_name_key_prefix"]
    # A range of the index (>= 'ma' AND < 'mb'), not a walk through all of it.
    assert ">=" in prefix_scan["Index Cond"] and "<" in prefix_scan["Index Cond"]
    assert not _scans_every_user(nodes)


@pytest.mark.parametrize("query", ["mar", "m"])
def test_a_caregiver_search_reads_only_their_own_people(big_registry, query):
    nodes = _plan_nodes(big_registry, CAREGIVER, query)
    # Themselves by their user_id (in the primary key or the role tables' target
    # index), their patients through the caregiver_id index.
    assert "ix_patients_caregiver_id" in _reads(nodes)
    assert {"pk_users", "uq_users_user_id_status_name"} & _reads(nodes)
    assert not _scans_every_user(nodes)
    assert "ix_users_name_key_trgm" not in _reads(nodes)


# --- the migration ------------------------------------------------------------------

SEARCH_INDEXES = {"ix_users_name_key_trgm", "ix_users_name_key_prefix"}


def test_the_migration_is_reversible(database_url):
    url = fresh_database(database_url, "docmemo_migration_0007_test")
    config = alembic_config(url)
    with make_sync_engine(Settings(_env_file=None, database_url=url)) as engine:

        def indexes() -> set[str]:
            return {index["name"] for index in inspect(engine).get_indexes("users")}

        def has_pg_trgm() -> bool:
            with engine.connect() as conn:
                query = "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'"
                return conn.execute(text(query)).scalar() == 1

        command.upgrade(config, "0007")
        assert indexes() >= SEARCH_INDEXES
        assert has_pg_trgm()
        command.downgrade(config, "0006")
        assert not SEARCH_INDEXES & indexes()
        # The extension stays: something else may use it by then (migration 0007).
        assert has_pg_trgm()
        command.upgrade(config, "0007")
        assert indexes() >= SEARCH_INDEXES
