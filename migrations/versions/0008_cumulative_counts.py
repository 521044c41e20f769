"""Counters of patients per MMSE score, cumulative over age: a count reads ≤ 31 rows.

0003's ``patient_counts`` held one row per (mmse, age) cell, so ``/count_over/0``
summed 30 × 131 rows, about 0.2 ms of the server's time per count. This revision
keeps the same numbers in another shape, ``patient_counts_by_mmse``: one row per
score whose ``up_to_age`` array holds, at index ``a + 2``, the patients with this
score aged ``a`` or less (``a`` = 0..MAX_AGE), and 0 at index 1. Patients aged
``lo`` to ``hi`` with this score are ``up_to_age[hi + 2] - up_to_age[lo + 1]``: two
subscripts of one row, so a count over any threshold and age bounds reads at most
31 rows, and the same rows at any registry size.

The trigger function of 0003 is replaced (its triggers stay): still one run per
statement, aggregating the statement's transition tables per (mmse, age), then one
UPDATE per score it changed, in score order, so that concurrent writers lock the
rows in the same order and do not deadlock each other. Each UPDATE computes the new
array from the row's own column in its SET list: under READ COMMITTED, when a
concurrent writer committed a newer version of the row first, PostgreSQL evaluates
that expression again on the newer version, so no change is lost. (Writers of one
statement per transaction, as the service's are, never deadlock on these rows; a
transaction writing patients in several statements locks rows of several batches,
in no common order, and may deadlock with another such, as with 0003's cells, only
more often: 31 rows instead of 4,061. PostgreSQL then aborts one of the two.)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_AGE = 130  # docmemo.db.models.MAX_AGE when this revision was written
# Entry 1 (younger than any age: 0) and one entry per age 0..MAX_AGE.
ENTRIES = MAX_AGE + 2
ZEROS = f"array_fill(0::bigint, ARRAY[{ENTRIES}])"

# Rows of the statement's transition tables, as (mmse, age, +1/-1) changes per cell.
_CELL_CHANGES = {
    "INSERT": "SELECT mmse, age, 1 AS delta FROM new_rows",
    "DELETE": "SELECT mmse, age, -1 AS delta FROM old_rows",
    "UPDATE": "SELECT mmse, age, -1 AS delta FROM old_rows "
    "UNION ALL SELECT mmse, age, 1 AS delta FROM new_rows",
}


def _apply_cell_changes(changes: str) -> str:
    """Per changed score (in score order), ``added[a + 2]`` is the change in patients
    with this score aged ``a`` or less, which the UPDATE adds entry by entry."""
    return f"""
        FOR changed IN
            WITH cells AS (
                SELECT mmse, age, sum(delta) AS delta FROM ({changes}) AS changes
                GROUP BY mmse, age HAVING sum(delta) <> 0
            )
            SELECT mmse, array_agg(added ORDER BY up_to) AS added
            FROM (
                SELECT scores.mmse, up_to,
                       sum(coalesce(cells.delta, 0)) OVER (
                           PARTITION BY scores.mmse ORDER BY up_to)::bigint AS added
                FROM (SELECT DISTINCT mmse FROM cells) AS scores
                CROSS JOIN generate_series(-1, {MAX_AGE}) AS up_to
                LEFT JOIN cells ON cells.mmse = scores.mmse AND cells.age = up_to
            ) AS cumulative
            GROUP BY mmse ORDER BY mmse
        LOOP
            -- From c.up_to_age, the version this UPDATE locks (see the docstring).
            UPDATE patient_counts_by_mmse AS c
            SET up_to_age = (
                SELECT array_agg(entry.so_far + entry.added ORDER BY entry.number)
                FROM unnest(c.up_to_age, changed.added)
                     WITH ORDINALITY AS entry(so_far, added, number)
            )
            WHERE c.mmse = changed.mmse;
        END LOOP;"""


COUNT_PATIENT_CELLS = f"""
CREATE OR REPLACE FUNCTION count_patient_cells() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed record;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE patient_counts_by_mmse SET up_to_age = {ZEROS} WHERE up_to_age <> {ZEROS};
    ELSIF TG_OP = 'INSERT' THEN {_apply_cell_changes(_CELL_CHANGES["INSERT"])}
    ELSIF TG_OP = 'DELETE' THEN {_apply_cell_changes(_CELL_CHANGES["DELETE"])}
    ELSE {_apply_cell_changes(_CELL_CHANGES["UPDATE"])}
    END IF;
    RETURN NULL;
END $$
"""

# 0003's function, for the downgrade.
_OLD_CELL_UPSERT = """
        INSERT INTO patient_counts AS c (mmse, age, patients)
        SELECT mmse, age, sum(delta) FROM ({changes}) AS changes
        GROUP BY mmse, age HAVING sum(delta) <> 0 ORDER BY mmse, age
        ON CONFLICT (mmse, age) DO UPDATE SET patients = c.patients + excluded.patients;"""
OLD_COUNT_PATIENT_CELLS = f"""
CREATE OR REPLACE FUNCTION count_patient_cells() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE patient_counts SET patients = 0 WHERE patients <> 0;
    ELSIF TG_OP = 'INSERT' THEN {_OLD_CELL_UPSERT.format(changes=_CELL_CHANGES["INSERT"])}
    ELSIF TG_OP = 'DELETE' THEN {_OLD_CELL_UPSERT.format(changes=_CELL_CHANGES["DELETE"])}
    ELSE {_OLD_CELL_UPSERT.format(changes=_CELL_CHANGES["UPDATE"])}
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    # No writes to patients while the counters change shape and are filled.
    op.execute("LOCK TABLE patients IN SHARE MODE")
    op.execute(f"""
        CREATE TABLE patient_counts_by_mmse (
            mmse smallint NOT NULL,
            up_to_age bigint[] NOT NULL,
            CONSTRAINT pk_patient_counts_by_mmse PRIMARY KEY (mmse),
            CONSTRAINT ck_patient_counts_by_mmse_mmse_range CHECK (mmse BETWEEN 0 AND 30),
            CONSTRAINT ck_patient_counts_by_mmse_one_entry_per_age CHECK (
                array_ndims(up_to_age) = 1 AND array_lower(up_to_age, 1) = 1
                AND array_upper(up_to_age, 1) = {ENTRIES} AND up_to_age[1] = 0
            )
        )""")
    op.execute(f"""
        INSERT INTO patient_counts_by_mmse (mmse, up_to_age)
        SELECT mmse, array_prepend(0::bigint, array_agg(so_far ORDER BY age))
        FROM (
            SELECT mmse, age,
                   sum(coalesce(cells.patients, 0)) OVER (
                       PARTITION BY mmse ORDER BY age)::bigint AS so_far
            FROM generate_series(0, 30) AS mmse
            CROSS JOIN generate_series(0, {MAX_AGE}) AS age
            LEFT JOIN (
                SELECT mmse, age, count(*) AS patients FROM patients GROUP BY mmse, age
            ) AS cells USING (mmse, age)
        ) AS cumulative
        GROUP BY mmse""")
    op.execute(COUNT_PATIENT_CELLS)
    op.execute("DROP TABLE patient_counts")


def downgrade() -> None:
    op.execute("LOCK TABLE patients IN SHARE MODE")
    op.execute("""
        CREATE TABLE patient_counts (
            mmse smallint NOT NULL,
            age smallint NOT NULL,
            patients bigint NOT NULL,
            CONSTRAINT pk_patient_counts PRIMARY KEY (mmse, age)
        )""")
    op.execute(f"""
        INSERT INTO patient_counts (mmse, age, patients)
        SELECT mmse, age, coalesce(cells.patients, 0)
        FROM generate_series(0, 30) AS mmse
        CROSS JOIN generate_series(0, {MAX_AGE}) AS age
        LEFT JOIN (
            SELECT mmse, age, count(*) AS patients FROM patients GROUP BY mmse, age
        ) AS cells USING (mmse, age)""")
    op.execute(OLD_COUNT_PATIENT_CELLS)
    op.execute("DROP TABLE patient_counts_by_mmse")
