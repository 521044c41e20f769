"""Idle session expiry and per-address login throttling (issue 5).

- ``sessions.last_seen_at``: when the session was last used, to the minute (the
  service refreshes it only when it is a minute old, so reads stay reads); a
  session unused for ``DOCMEMO_SESSION_IDLE_S`` is refused. Existing sessions
  count as seen now.
- ``login_address_throttle``: failed logins per client address (an IPv4 address,
  or the /64 network of an IPv6 one) in a fixed window, shared by every API process.
- Indexes on the throttle tables' timestamps, so that stale rows are found and
  purged a few at a time without a scan (the rows of names nobody has were kept).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sessions",
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_login_throttle_last_failure_at", "login_throttle", ["last_failure_at"], unique=False
    )
    op.create_table(
        "login_address_throttle",
        sa.Column("address", postgresql.INET(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("failures >= 0", name="ck_login_address_throttle_failures_not_negative"),
        sa.PrimaryKeyConstraint("address", name="pk_login_address_throttle"),
    )
    op.create_index(
        "ix_login_address_throttle_window_started_at",
        "login_address_throttle",
        ["window_started_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_login_address_throttle_window_started_at", table_name="login_address_throttle"
    )
    op.drop_table("login_address_throttle")
    op.drop_index("ix_login_throttle_last_failure_at", table_name="login_throttle")
    op.drop_column("sessions", "last_seen_at")
