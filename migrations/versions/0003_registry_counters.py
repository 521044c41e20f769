"""Counters kept by triggers, so that counting costs the same at any registry size.

``patient_counts`` holds the number of patients per (mmse, age): one row for each of
the 31 × 131 cells, zeros included, however many patients there are, so
``/count_over`` and ``/count_under`` read the same rows at 10 patients as at 10
million. ``role_counts`` holds the number of rows of each role
table, spread over a few slots (chosen by the backend's process id) so that
concurrent creations rarely wait on the same counter row; ``/status`` sums them
(every user has exactly one role row, so users = their sum).

Statement-level AFTER triggers with transition tables keep both exact in the same
transaction as the write: one aggregated upsert per statement, whether it inserts
one row (a creation) or a million (the seeding's COPY). Upserts go in key order, so
two writers lock counter rows in the same order and do not deadlock each other.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTER_SLOTS = 8
MAX_AGE = 130  # docmemo.db.models.MAX_AGE when this revision was written
ROLE_TABLES = {"patients": "patient", "caregivers": "caregiver", "healthpros": "healthpro"}

# Rows of the statement's transition tables, as (mmse, age, +1/-1) changes per cell.
_CELL_CHANGES = {
    "INSERT": "SELECT mmse, age, 1 AS delta FROM new_rows",
    "DELETE": "SELECT mmse, age, -1 AS delta FROM old_rows",
    "UPDATE": "SELECT mmse, age, -1 AS delta FROM old_rows "
    "UNION ALL SELECT mmse, age, 1 AS delta FROM new_rows",
}


def _apply_cell_changes(changes: str) -> str:
    return f"""
        INSERT INTO patient_counts AS c (mmse, age, patients)
        SELECT mmse, age, sum(delta) FROM ({changes}) AS changes
        GROUP BY mmse, age HAVING sum(delta) <> 0 ORDER BY mmse, age
        ON CONFLICT (mmse, age) DO UPDATE SET patients = c.patients + excluded.patients;"""


COUNT_PATIENT_CELLS = f"""
CREATE FUNCTION count_patient_cells() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE patient_counts SET patients = 0 WHERE patients <> 0;
    ELSIF TG_OP = 'INSERT' THEN {_apply_cell_changes(_CELL_CHANGES["INSERT"])}
    ELSIF TG_OP = 'DELETE' THEN {_apply_cell_changes(_CELL_CHANGES["DELETE"])}
    ELSE {_apply_cell_changes(_CELL_CHANGES["UPDATE"])}
    END IF;
    RETURN NULL;
END $$
"""

# TG_ARGV[0]: the role whose table fired the trigger.
COUNT_ROLE_ROWS = f"""
CREATE FUNCTION count_role_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM role_counts WHERE status = TG_ARGV[0];
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO delta FROM new_rows;
    ELSE
        SELECT -count(*) INTO delta FROM old_rows;
    END IF;
    IF delta <> 0 THEN
        INSERT INTO role_counts AS c (status, slot, users)
        VALUES (TG_ARGV[0], pg_backend_pid() % {COUNTER_SLOTS}, delta)
        ON CONFLICT (status, slot) DO UPDATE SET users = c.users + excluded.users;
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    # No writes to the registry while the counters are created and filled.
    op.execute("LOCK TABLE patients, caregivers, healthpros IN SHARE MODE")
    op.execute("""
        CREATE TABLE patient_counts (
            mmse smallint NOT NULL,
            age smallint NOT NULL,
            patients bigint NOT NULL,
            CONSTRAINT pk_patient_counts PRIMARY KEY (mmse, age)
        )""")
    op.execute("""
        CREATE TABLE role_counts (
            status text NOT NULL,
            slot smallint NOT NULL,
            users bigint NOT NULL,
            CONSTRAINT pk_role_counts PRIMARY KEY (status, slot)
        )""")
    op.execute(COUNT_PATIENT_CELLS)
    op.execute(COUNT_ROLE_ROWS)
    for event, transition in (("INSERT", "NEW"), ("DELETE", "OLD"), ("UPDATE", None)):
        referencing = (
            f"REFERENCING {transition} TABLE AS {transition.lower()}_rows"
            if transition
            else "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
        )
        op.execute(f"""
            CREATE TRIGGER patients_count_cells_{event.lower()} AFTER {event} ON patients
            {referencing} FOR EACH STATEMENT EXECUTE FUNCTION count_patient_cells()""")
    op.execute("""
        CREATE TRIGGER patients_count_cells_truncate AFTER TRUNCATE ON patients
        FOR EACH STATEMENT EXECUTE FUNCTION count_patient_cells()""")
    for table, role in ROLE_TABLES.items():
        for event, transition in (("INSERT", "NEW"), ("DELETE", "OLD")):
            op.execute(f"""
                CREATE TRIGGER {table}_count_rows_{event.lower()} AFTER {event} ON {table}
                REFERENCING {transition} TABLE AS {transition.lower()}_rows
                FOR EACH STATEMENT EXECUTE FUNCTION count_role_rows('{role}')""")
        op.execute(f"""
            CREATE TRIGGER {table}_count_rows_truncate AFTER TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION count_role_rows('{role}')""")
        op.execute(f"""
            INSERT INTO role_counts (status, slot, users)
            SELECT '{role}', 0, count(*) FROM {table}""")
    op.execute(f"""
        INSERT INTO patient_counts (mmse, age, patients)
        SELECT mmse, age, 0
        FROM generate_series(0, 30) AS mmse, generate_series(0, {MAX_AGE}) AS age""")
    op.execute("""
        UPDATE patient_counts c SET patients = p.patients
        FROM (SELECT mmse, age, count(*) AS patients FROM patients GROUP BY mmse, age) AS p
        WHERE (c.mmse, c.age) = (p.mmse, p.age)""")
    # The counters answer the counts now; the index only slowed every write.
    op.execute("DROP INDEX ix_patients_mmse_age")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_patients_mmse_age ON patients (mmse, age)")
    for table in ROLE_TABLES:
        for event in ("insert", "delete", "truncate"):
            op.execute(f"DROP TRIGGER {table}_count_rows_{event} ON {table}")
    for event in ("insert", "delete", "update", "truncate"):
        op.execute(f"DROP TRIGGER patients_count_cells_{event} ON patients")
    op.execute("DROP FUNCTION count_role_rows()")
    op.execute("DROP FUNCTION count_patient_cells()")
    op.execute("DROP TABLE role_counts")
    op.execute("DROP TABLE patient_counts")
