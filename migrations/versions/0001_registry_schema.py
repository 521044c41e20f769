"""registry schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 00:55:14.254788
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# lower() follows the database's character type; under the plain "C" type it only
# folds ASCII, so "ÉLODIE" and "élodie" would be two people. Refuse such a database.
CHECK_UNICODE_LOWER = """
DO $$
BEGIN
    IF lower(U&'\\00C9LODIE') <> U&'\\00E9lodie' THEN
        RAISE EXCEPTION 'database ctype % does not lower-case non-ASCII letters; create it with '
            'a UTF-8 locale (e.g. LOCALE ''C.UTF-8'' TEMPLATE template0)',
            current_setting('lc_ctype');
    END IF;
END $$;
"""

# A user row never exists without its role row (SPEC §1). The role tables' foreign
# keys give the reverse; this deferred trigger checks it at commit, when the user
# and its role row have both been written.
USER_HAS_ROLE = """
CREATE FUNCTION users_check_role_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target text := coalesce(NEW.user_id, OLD.user_id);
BEGIN
    IF EXISTS (SELECT 1 FROM users u WHERE u.user_id = target)
       AND NOT EXISTS (SELECT 1 FROM patients WHERE user_id = target
                       UNION ALL SELECT 1 FROM caregivers WHERE user_id = target
                       UNION ALL SELECT 1 FROM healthpros WHERE user_id = target) THEN
        RAISE EXCEPTION 'user % has no row in its role table', target
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
"""
ROLE_TRIGGERS = [
    ("users", "INSERT OR UPDATE"),
    ("patients", "UPDATE OR DELETE"),
    ("caregivers", "UPDATE OR DELETE"),
    ("healthpros", "UPDATE OR DELETE"),
]


def upgrade() -> None:
    op.execute(CHECK_UNICODE_LOWER)
    op.create_table(
        "login_throttle",
        sa.Column("account_key", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("account_key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('patient', 'caregiver', 'healthpro')", name=op.f("ck_users_status_allowed")
        ),
        sa.CheckConstraint("user_id ~ '^[0-9a-f]{32}$'", name=op.f("ck_users_user_id_hex")),
        sa.CheckConstraint(
            "char_length(name) BETWEEN 1 AND 100", name=op.f("ck_users_name_length")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
        sa.UniqueConstraint("user_id", "status", "name", name=op.f("uq_users_user_id_status_name")),
    )
    op.create_index("uq_users_lower_name", "users", [sa.literal_column("lower(name)")], unique=True)
    op.create_table(
        "caregivers",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Text(), server_default="caregiver", nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.CheckConstraint("status = 'caregiver'", name=op.f("ck_caregivers_status_is_role")),
        sa.ForeignKeyConstraint(
            ["user_id", "status", "name"],
            ["users.user_id", "users.status", "users.name"],
            name=op.f("fk_caregivers_user_id_status_name_users"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_caregivers")),
    )
    op.create_table(
        "healthpros",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Text(), server_default="healthpro", nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("specialty", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "specialty IN ('general', 'psychologist', 'neurologist')",
            name=op.f("ck_healthpros_specialty_allowed"),
        ),
        sa.CheckConstraint("status = 'healthpro'", name=op.f("ck_healthpros_status_is_role")),
        sa.ForeignKeyConstraint(
            ["user_id", "status", "name"],
            ["users.user_id", "users.status", "users.name"],
            name=op.f("fk_healthpros_user_id_status_name_users"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_healthpros")),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_expires_at"), "sessions", ["expires_at"], unique=False)
    op.create_index(op.f("ix_sessions_user_id"), "sessions", ["user_id"], unique=False)
    op.create_table(
        "patients",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Text(), server_default="patient", nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("age", sa.SmallInteger(), nullable=False),
        sa.Column("mmse", sa.SmallInteger(), nullable=False),
        sa.Column("caregiver_id", sa.String(length=32), nullable=True),
        sa.CheckConstraint("status = 'patient'", name=op.f("ck_patients_status_is_role")),
        sa.CheckConstraint("age BETWEEN 0 AND 130", name=op.f("ck_patients_age_range")),
        sa.CheckConstraint("mmse BETWEEN 0 AND 30", name=op.f("ck_patients_mmse_range")),
        sa.ForeignKeyConstraint(
            ["caregiver_id"],
            ["caregivers.user_id"],
            name=op.f("fk_patients_caregiver_id_caregivers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "status", "name"],
            ["users.user_id", "users.status", "users.name"],
            name=op.f("fk_patients_user_id_status_name_users"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_patients")),
    )
    op.create_index(op.f("ix_patients_caregiver_id"), "patients", ["caregiver_id"], unique=False)
    op.create_index("ix_patients_mmse_age", "patients", ["mmse", "age"], unique=False)
    op.execute(USER_HAS_ROLE)
    for table, events in ROLE_TRIGGERS:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_check_role_row AFTER {events} ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION users_check_role_row()"
        )


def downgrade() -> None:
    for table, _ in ROLE_TRIGGERS:
        op.execute(f"DROP TRIGGER {table}_check_role_row ON {table}")
    op.execute("DROP FUNCTION users_check_role_row()")
    op.drop_index("ix_patients_mmse_age", table_name="patients")
    op.drop_index(op.f("ix_patients_caregiver_id"), table_name="patients")
    op.drop_table("patients")
    op.drop_index(op.f("ix_sessions_user_id"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_expires_at"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("healthpros")
    op.drop_table("caregivers")
    op.drop_index("uq_users_lower_name", table_name="users")
    op.drop_table("users")
    op.drop_table("login_throttle")
