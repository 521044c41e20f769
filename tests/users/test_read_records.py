"""read_records: many reads of records answered by one statement (issue 4, the
coalesced reads). Each read gets read_record's answer, in order, whatever else is in
the batch; input is checked before a read joins a batch; each name is looked up in
its name_key() index, never by reading every user. (Its audit rows: tests/audit.)"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from docmemo.audit.service import normalize_address
from docmemo.auth.schemas import Identity
from docmemo.db.engine import conninfo
from docmemo.db.models import Role, Specialty
from docmemo.errors import InvalidInput, NotFound
from docmemo.users.service import (
    RecordRead,
    UserRecord,
    read_record,
    read_records,
    read_records_statement,
    record_read,
)
from tests.helpers import plan_nodes, unique_name


def identity(record: UserRecord) -> Identity:
    return Identity(
        user_id=record.user_id, name=record.name, status=record.status, specialty=record.specialty
    )


async def _one_at_a_time(db, viewer: Identity, name: str) -> UserRecord | None:
    try:
        return await read_record(db, viewer, name)
    except NotFound:
        return None


async def test_a_batch_of_many_viewers_gets_each_read_records_answer_in_order(db, family):
    doctor, carer, patient = (identity(family[who]) for who in ("doctor", "carer", "patient"))
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
    answers = await read_records(db, [record_read(viewer, name) for viewer, name in asked])
    assert answers == [
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
    assert answers == [await _one_at_a_time(db, viewer, name) for viewer, name in asked]


async def test_an_empty_batch_asks_nothing(settings):
    closed = await psycopg.AsyncConnection.connect(conninfo(settings), autocommit=True)
    await closed.close()  # any statement on it would raise
    assert await read_records(closed, []) == []


@pytest.mark.parametrize("hostile", ["", "   ", "x" * 5000, "a\x00b", "'; SELECT pg_sleep(10);--"])
async def test_a_name_nobody_can_have_is_refused_before_it_joins_a_batch(family, hostile):
    with pytest.raises(InvalidInput):
        record_read(identity(family["doctor"]), hostile, "203.0.113.7")


def test_a_read_holds_the_cleaned_name_the_normalized_address_and_the_viewers_rights():
    carer = Identity(user_id="c" * 32, name="Carer", status=Role.CAREGIVER)
    doctor = Identity(
        user_id="d" * 32, name="Doc", status=Role.HEALTHPRO, specialty=Specialty.GENERAL
    )
    read = record_read(carer, "  Zoe\u0301 Keller ", "[fe80::1%eth0]")
    assert read == RecordRead(
        viewer_id=carer.user_id,
        sees_everyone=False,
        viewer_is_caregiver=True,
        name="Zoé Keller",  # NFC, without the surrounding spaces
        address=normalize_address("fe80::1"),
    )
    assert record_read(doctor, "Zoé Keller", "test").address is None  # not an IP address
    assert (record_read(doctor, "A", None).sees_everyone, read.sees_everyone) == (True, False)
    # Hashable, and equal reads are equal: a coalescer can tell identical ones.
    assert len({read, record_read(carer, "Zoé Keller ", "fe80::1"), read}) == 1


# --- the plan: one probe of the name_key() index per read, never every user ----------

NAME_KEY_INDEXES = {"uq_users_name_key", "ix_users_name_key_prefix"}
REGISTRY_SIZE = 5000
VIEWER = Identity(user_id="f" * 32, name="Planner", status=Role.HEALTHPRO)


@pytest.fixture(scope="module")
def registry(sync_engine):
    """REGISTRY_SIZE more users, statistics gathered, all in a transaction rolled back
    at the end. Their role rows are never written: the check that every user has one
    runs at commit, which never comes. Then VACUUM ANALYZE: the rolled-back rows would
    otherwise stay in the trigram index's pending list and in the table's size as the
    planner sees it, and change the plans of the tests that come after."""
    connection = sync_engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO users (user_id, name, password, status) "
                "SELECT md5('read' || i), 'Reader Number ' || i, 'h', 'caregiver' "
                "FROM generate_series(1, %(size)s) AS i",
                {"size": REGISTRY_SIZE},
            )
            cursor.execute("ANALYZE users")
            yield cursor
    finally:
        connection.rollback()
        connection.close()
        with sync_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE users"))


def _executed_plan(cursor, reads: list[RecordRead]) -> list[dict]:
    """The nodes of the executed plan of read_records' own SQL and parameters."""
    sql, params = read_records_statement(reads)
    return plan_nodes(cursor, sql, params, analyze=True)


# From a handful of reads to a batch of a tenth of the users: a join reading every
# user would be cheaper by the planner's sums at the larger sizes, but each user it
# read would cost a name_key(), an NFKC normalization of the name.
@pytest.mark.parametrize("batch_size", [1, 3, 50, 500])
def test_each_read_is_one_probe_of_the_name_key_index(registry, batch_size):
    reads = [
        record_read(VIEWER, f"READER number {i * 7 % REGISTRY_SIZE + 1}") for i in range(batch_size)
    ]
    nodes = _executed_plan(registry, reads)
    users_nodes = [node for node in nodes if node.get("Relation Name") == "users"]
    assert all(node["Node Type"] != "Seq Scan" for node in users_nodes), users_nodes
    [probe] = users_nodes
    assert probe["Node Type"] == "Index Scan"
    assert probe["Index Name"] in NAME_KEY_INDEXES
    assert probe["Actual Loops"] == batch_size  # once per read
    assert probe["Actual Rows"] == 1  # per loop: the one user of that name
    assert not any(node["Node Type"] in ("Hash Join", "Merge Join") for node in nodes)
