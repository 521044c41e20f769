"""The append-only audit trail of reads and writes of health data (issue 5).

``audit_events`` holds one row per audited action: when (``occurred_at``, the
transaction's time), who (``actor_id``; NULL for an anonymous creation), whose
record (``subject_id``), what (``action``), whether it was allowed or refused
(``outcome``) and from which address. Never a health value: no MMSE, no age, no
names; ids are plain values without foreign keys, so that a row outlives the users
it names and no cascade from ``users`` can reach it. The index serves "the trail
of one patient, newest first" (``event_id`` grows with every insert).

Append-only for every role, the table's owner included:

- a statement-level BEFORE trigger refuses UPDATE, DELETE and TRUNCATE (a
  statement trigger fires even when no row matches, so "DELETE … WHERE false"
  fails too); it is ``ENABLE ALWAYS``, so ``session_replication_role = replica``
  does not silence it;
- UPDATE, DELETE and TRUNCATE are revoked from PUBLIC and from the role that runs
  this migration (the owner), so a non-superuser owner gets "permission denied"
  before the trigger is even reached.

What remains possible, by design of PostgreSQL: the owner can give itself the
privileges back (GRANT), disable or drop the trigger, or drop the table; a
superuser can do all of that and more (bypass privileges, write the data files).
Each of these is a deliberate DDL statement, visible with ``log_statement = 'ddl'``,
not something a bug or an injected DML statement can do. Where the API connects as
the owner (compose and the Kubernetes base, whose ``docmemo`` role is even a
superuser; CloudNativePG's ``docmemo`` owns the database), the trail is protected
against the API's statements but not against someone holding its credentials. To
close that too, run migrations (and ``docmemo seed --rebuild``) as the owner and
the API as a role that owns nothing, with ``DOCMEMO_MIGRATE_ON_START=false``::

    CREATE ROLE docmemo_api LOGIN PASSWORD '…';
    GRANT CONNECT ON DATABASE docmemo TO docmemo_api;
    GRANT USAGE ON SCHEMA public TO docmemo_api;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO docmemo_api;
    REVOKE UPDATE, DELETE ON audit_events FROM docmemo_api;  -- SELECT, INSERT only

(An identity column needs no privilege on its sequence. Tables added by later
migrations need their own GRANT, or ``ALTER DEFAULT PRIVILEGES`` once.)

Downgrading drops the table and the trail with it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# docmemo.db.models.AuditAction when this revision was written; a new action
# needs a revision that replaces the check.
ACTIONS = (
    "read_record",
    "predict",
    "read_assessments",
    "record_assessment",
    "read_audit_trail",
    "create_user",
    "change_password",
)
OUTCOMES = ("allowed", "denied")
USER_ID_PATTERN = "^[0-9a-f]{32}$"  # docmemo.db.models.USER_ID_PATTERN


def _in_list(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


REFUSE_AUDIT_CHANGE = """
CREATE FUNCTION refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""


def upgrade() -> None:
    op.execute(f"""
        CREATE TABLE audit_events (
            event_id bigint GENERATED ALWAYS AS IDENTITY,
            occurred_at timestamp with time zone NOT NULL DEFAULT now(),
            actor_id varchar(32),
            subject_id varchar(32) NOT NULL,
            action text NOT NULL,
            outcome text NOT NULL DEFAULT 'allowed',
            address inet,
            CONSTRAINT pk_audit_events PRIMARY KEY (event_id),
            CONSTRAINT ck_audit_events_action_allowed CHECK (action IN ({_in_list(ACTIONS)})),
            CONSTRAINT ck_audit_events_outcome_allowed CHECK (outcome IN ({_in_list(OUTCOMES)})),
            CONSTRAINT ck_audit_events_actor_id_hex CHECK (actor_id ~ '{USER_ID_PATTERN}'),
            CONSTRAINT ck_audit_events_subject_id_hex CHECK (subject_id ~ '{USER_ID_PATTERN}')
        )""")
    op.execute(
        "CREATE INDEX ix_audit_events_subject_id_event_id ON audit_events (subject_id, event_id)"
    )
    op.execute(REFUSE_AUDIT_CHANGE)
    op.execute("""
        CREATE TRIGGER audit_events_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change()""")
    op.execute("ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_append_only")
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC, CURRENT_USER")


def downgrade() -> None:
    # DROP TABLE is neither UPDATE, DELETE nor TRUNCATE: the trigger does not stop it.
    op.execute("DROP TABLE audit_events")
    op.execute("DROP FUNCTION refuse_audit_change()")
