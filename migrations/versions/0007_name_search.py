"""Searching names as one types: a part of a name anywhere, and a name's beginning.

- ``pg_trgm`` (a trusted extension since PostgreSQL 13: the database owner may create
  it; the embedded server, the official image and managed servers ship it) and a GIN
  trigram index on ``name_key(name)``: ``name_key(name) LIKE '%art%'`` reads the
  index instead of every user, for three characters or more.
- A B-tree on ``name_key(name) text_pattern_ops``: ``LIKE 'mar%'`` becomes a range of
  this index, walked in code-point order (``ORDER BY ... USING ~<~``), whatever the
  database's collation (the unique index of 0002 follows the collation, which
  outside the C locale cannot answer a prefix). It serves one or two typed
  characters, which have no trigram, and puts the names that begin with what was
  typed first, in order, at a cost that does not grow with the number of matches.

The downgrade drops both indexes but keeps the extension: another schema or a
person's own index may use pg_trgm by then, dropping it would fail or cascade into
what is not ours, and an unused extension costs nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE INDEX ix_users_name_key_trgm ON users USING gin (name_key(name) gin_trgm_ops)"
    )
    op.execute("CREATE INDEX ix_users_name_key_prefix ON users (name_key(name) text_pattern_ops)")


def downgrade() -> None:
    op.drop_index("ix_users_name_key_prefix", table_name="users")
    op.drop_index("ix_users_name_key_trgm", table_name="users")
