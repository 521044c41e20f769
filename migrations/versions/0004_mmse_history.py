"""MMSE assessments and the fitted progression model (issue 6).

``assessments`` holds every MMSE assessment of a patient; ``patients.mmse`` stays the
score of the latest one (greatest ``(assessed_at, assessment_id)``), kept in step by
the service that records assessments, in the same transaction. Each existing patient
gets one assessment here: their current score, assessed today, recorded by nobody.

``progression_models`` holds the fitted progression models; the one served is the row
with the latest ``fitted_at``, so every API replica serves the same model.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EARLIEST_ASSESSMENT = "1900-01-01"  # docmemo.db.models.EARLIEST_ASSESSMENT when written


def upgrade() -> None:
    # No patient may be written until the backfill below is done (one would be left
    # without an assessment).
    op.execute("LOCK TABLE patients IN SHARE MODE")
    op.create_table(
        "assessments",
        sa.Column("assessment_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("patient_id", sa.String(length=32), nullable=False),
        sa.Column("mmse", sa.SmallInteger(), nullable=False),
        sa.Column("assessed_at", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=32), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("mmse BETWEEN 0 AND 30", name=op.f("ck_assessments_mmse_range")),
        sa.CheckConstraint(
            f"assessed_at >= DATE '{EARLIEST_ASSESSMENT}'",
            name=op.f("ck_assessments_assessed_at_range"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.user_id"],
            name=op.f("fk_assessments_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.user_id"],
            name=op.f("fk_assessments_recorded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("assessment_id", name=op.f("pk_assessments")),
    )
    # A patient's history in order, and their latest assessment, from one index.
    op.create_index(
        op.f("ix_assessments_patient_id_assessed_at_assessment_id"),
        "assessments",
        ["patient_id", "assessed_at", "assessment_id"],
        unique=False,
    )
    # Deleting a user sets their recorded_by to NULL: without an index that would read
    # every assessment. Generated histories have none, hence partial (and small).
    op.create_index(
        op.f("ix_assessments_recorded_by"),
        "assessments",
        ["recorded_by"],
        unique=False,
        postgresql_where=sa.text("recorded_by IS NOT NULL"),
    )
    op.create_table(
        "progression_models",
        sa.Column("model_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column(
            "fitted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("parameters", postgresql.JSONB(), nullable=False),
        sa.Column("evaluation", postgresql.JSONB(), nullable=True),
        sa.Column("n_patients", sa.Integer(), nullable=False),
        sa.Column("n_assessments", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_progression_models")),
        sa.UniqueConstraint("version", name=op.f("uq_progression_models_version")),
    )
    # Every patient's current score becomes their first assessment, so that
    # patients.mmse is the latest assessment from the start.
    op.execute("""
        INSERT INTO assessments (patient_id, mmse, assessed_at)
        SELECT user_id, mmse, CURRENT_DATE FROM patients""")


def downgrade() -> None:
    op.drop_table("progression_models")
    op.drop_index(op.f("ix_assessments_recorded_by"), table_name="assessments")
    op.drop_index(
        op.f("ix_assessments_patient_id_assessed_at_assessment_id"), table_name="assessments"
    )
    op.drop_table("assessments")
