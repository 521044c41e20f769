"""read_records: many reads of records, each by whoever holds its session token,
answered by one statement (issue 4, the coalesced reads). Each read gets read_record's
answer, in order, whatever else is in the batch; input is checked before a read joins
a batch; the sessions are found and their use recorded in the same statement; each
name is looked up in its name_key() index, never by reading every user. (Its audit
rows: tests/audit.)"""

from __future__ import annotations

import secrets

import psycopg
import pytest
from sqlalchemy import text

from docmemo.audit.service import normalize_address
from docmemo.auth.service import MAX_TOKEN_LENGTH, token_digest
from docmemo.db.engine import conninfo
from docmemo.errors import InvalidInput, NotAuthenticated, NotFound
from docmemo.users.service import (
    NOT_SIGNED_IN,
    RecordAnswer,
    RecordRead,
    UserRecord,
    read_record,
    read_records,
    read_records_statement,
    record_read,
    shown_record,
)
from tests.helpers import last_seen, move_session, plan_nodes, start_session, unique_name


@pytest.fixture
async def token_of(pool, family, settings) -> dict[str, str]:
    """A live session of each member of the family: who → its token."""
    return {
        who: await start_session(pool, person.user_id, settings) for who, person in family.items()
    }


async def _one_at_a_time(db, token: str, name: str, settings) -> UserRecord | None:
    try:
        return await read_record(db, token, name, settings)
    except NotFound:
        return None


async def test_a_batch_of_many_readers_gets_each_read_records_answer_in_order(
    db, family, token_of, settings
):
    doctor, carer, patient = (token_of[who] for who in ("doctor", "carer", "patient"))
    nobody = unique_name("Nobody")
    asked = [
        (doctor, family["patient"].name.upper()),
        (carer, family["other_patient"].name),  # not theirs
        (patient, family["patient"].name.lower()),
        (doctor, nobody),
        (carer, family["patient"].name),
        (patient, family["carer"].name),  # not theirs
        (doctor, family["doctor"].name),
        (doctor, family["patient"].name.upper()),  # the first read again
        (carer, f"  {family['carer'].name}  "),
    ]
    answers = await read_records(db, [record_read(token, name) for token, name in asked], settings)
    assert answers == [
        RecordAnswer(signed_in=True, record=record)
        for record in [
            family["patient"],
            None,
            family["patient"],
            None,
            family["patient"],
            None,
            family["doctor"],
            family["patient"],
            family["carer"],
        ]
    ]
    assert [answer.record for answer in answers] == [
        await _one_at_a_time(db, token, name, settings) for token, name in asked
    ]


async def test_reads_without_a_live_session_are_not_signed_in_whatever_else_is_in_the_batch(
    pool, db, family, token_of, settings, sync_engine
):
    expired = await start_session(pool, family["doctor"].user_id, settings)
    idle = await start_session(pool, family["doctor"].user_id, settings)
    move_session(sync_engine, expired, settings, "expires_at = now() - interval '1 second'")
    move_session(sync_engine, idle, settings, "last_seen_at = now() - interval '30 days'")
    doctor, name = token_of["doctor"], family["patient"].name
    tokens = [doctor, None, secrets.token_urlsafe(32), expired, doctor, idle, "x" * 5000, doctor]
    answers = await read_records(db, [record_read(token, name) for token in tokens], settings)
    shown = RecordAnswer(signed_in=True, record=family["patient"])
    assert answers == [shown, *[NOT_SIGNED_IN] * 3, shown, NOT_SIGNED_IN, NOT_SIGNED_IN, shown]


async def test_a_batch_without_a_token_worth_sending_asks_nothing(settings):
    closed = await psycopg.AsyncConnection.connect(conninfo(settings), autocommit=True)
    await closed.close()  # any statement on it would raise
    assert await read_records(closed, [], settings) == []
    reads = [record_read(None, "Ann"), record_read("x" * (MAX_TOKEN_LENGTH + 1), "Ann")]
    assert await read_records(closed, reads, settings) == [NOT_SIGNED_IN, NOT_SIGNED_IN]


async def test_a_read_records_its_sessions_use_at_most_once_a_minute(
    db, family, token_of, settings, sync_engine
):
    token = token_of["carer"]
    move_session(sync_engine, token, settings, "last_seen_at = now() - interval '10 minutes'")
    ten_minutes_ago = last_seen(sync_engine, token, settings)
    await read_record(db, token, family["carer"].name, settings)
    assert last_seen(sync_engine, token, settings) > ten_minutes_ago
    move_session(sync_engine, token, settings, "last_seen_at = now() - interval '30 seconds'")
    thirty_seconds_ago = last_seen(sync_engine, token, settings)
    await read_record(db, token, family["carer"].name, settings)
    # Recorded less than a minute ago: left as it is.
    assert last_seen(sync_engine, token, settings) == thirty_seconds_ago


@pytest.mark.parametrize("hostile", ["", "   ", "x" * 5000, "a\x00b", "'; SELECT pg_sleep(10);--"])
async def test_a_name_nobody_can_have_is_refused_once_the_session_is_known(
    db, family, token_of, settings, hostile
):
    read = record_read(token_of["doctor"], hostile, "203.0.113.7")
    assert read.name is None and isinstance(read.refusal, InvalidInput)
    # Sent as NULL, it finds nothing and fails nothing; 401 comes first, as everywhere.
    with pytest.raises(InvalidInput):
        await read_record(db, token_of["doctor"], hostile, settings)
    with pytest.raises(NotAuthenticated):
        await read_record(db, secrets.token_urlsafe(32), hostile, settings)


def test_shown_record_answers_401_then_422_then_404():
    record = UserRecord(user_id="a" * 32, name="Ann", status="caregiver")
    fine, refused = record_read("token", "Ann"), record_read("token", "")
    with pytest.raises(NotAuthenticated):
        shown_record(refused, NOT_SIGNED_IN)
    with pytest.raises(InvalidInput):
        shown_record(refused, RecordAnswer(signed_in=True, record=None))
    with pytest.raises(NotFound):
        shown_record(fine, RecordAnswer(signed_in=True, record=None))
    assert shown_record(fine, RecordAnswer(signed_in=True, record=record)) is record


def test_a_read_holds_the_cleaned_name_and_the_normalized_address():
    read = record_read("token", "  Zoe\u0301 Keller ", "[fe80::1%eth0]")
    assert read == RecordRead(
        token="token",
        name="Zoé Keller",  # NFC, without the surrounding spaces
        address=normalize_address("fe80::1"),
    )
    assert record_read("token", "Zoé Keller", "test").address is None  # not an IP address
    # Hashable, and equal reads are equal: a coalescer can tell identical ones.
    assert len({read, record_read("token", "Zoé Keller ", "fe80::1"), read}) == 1


# --- the plan: one probe of the name_key() index per read, never every user ----------

NAME_KEY_INDEXES = {"uq_users_name_key", "ix_users_name_key_prefix"}
REGISTRY_SIZE = 5000
READER_ID = "f" * 32


@pytest.fixture(scope="module")
def registry(sync_engine, settings):
    """REGISTRY_SIZE more users and a health professional's session, statistics
    gathered, all in a transaction rolled back at the end: the cursor, and the
    session's token. Their role rows are never written: the check that every user has
    one runs at commit, which never comes. Then VACUUM ANALYZE: the rolled-back rows
    would otherwise stay in the trigram index's pending list and in the table's size
    as the planner sees it, and change the plans of the tests that come after."""
    token = secrets.token_urlsafe(32)
    connection = sync_engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO users (user_id, name, password, status) "
                "SELECT md5('read' || i), 'Reader Number ' || i, 'h', 'caregiver' "
                "FROM generate_series(1, %(size)s) AS i",
                {"size": REGISTRY_SIZE},
            )
            cursor.execute(
                "INSERT INTO users (user_id, name, password, status) "
                "VALUES (%(id)s, 'Planner', 'h', 'healthpro')",
                {"id": READER_ID},
            )
            cursor.execute(
                "INSERT INTO sessions (token_hash, user_id, expires_at) "
                "VALUES (%(h)s, %(id)s, now() + interval '1 hour')",
                {"h": token_digest(token, settings.secret_key), "id": READER_ID},
            )
            cursor.execute("ANALYZE users")
            yield cursor, token
    finally:
        connection.rollback()
        connection.close()
        with sync_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE users"))


def _executed_plan(cursor, reads: list[RecordRead], settings) -> list[dict]:
    """The nodes of the executed plan of read_records' own SQL and parameters."""
    sql, params, _ = read_records_statement(reads, settings)
    return plan_nodes(cursor, sql, params, analyze=True)


# From a handful of reads to a batch of a tenth of the users: a join reading every
# user would be cheaper by the planner's sums at the larger sizes, but each user it
# read would cost a name_key(), an NFKC normalization of the name.
@pytest.mark.parametrize("batch_size", [1, 3, 50, 500])
def test_each_read_is_one_probe_of_the_name_key_index(registry, settings, batch_size):
    cursor, token = registry
    reads = [
        record_read(token, f"READER number {i * 7 % REGISTRY_SIZE + 1}") for i in range(batch_size)
    ]
    nodes = _executed_plan(cursor, reads, settings)
    users_nodes = [node for node in nodes if node.get("Relation Name") == "users"]
    assert all(node["Node Type"] != "Seq Scan" for node in users_nodes), users_nodes
    # The reader is found once, by their id; each name in one probe.
    [probe] = [node for node in users_nodes if node.get("Index Name") in NAME_KEY_INDEXES]
    [reader] = [node for node in users_nodes if node is not probe]
    assert reader["Actual Loops"] == 1
    assert probe["Node Type"] == "Index Scan"
    assert probe["Actual Loops"] == batch_size  # once per read
    assert probe["Actual Rows"] == 1  # per loop: the one user of that name
