"""Names compare by their Unicode case fold, not just lower(): ß = ss, ς = σ, NFKC.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The twin of docmemo.users.names.name_key: NFKC, lower-case, then the letters whose
# lower case is not their case fold. IMMUTABLE so that an index can use it.
NAME_KEY = """
CREATE FUNCTION name_key(name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT translate(replace(lower(normalize(name, NFKC)), 'ß', 'ss'), 'ςſ', 'σs') $$
"""


def upgrade() -> None:
    op.execute(NAME_KEY)
    op.drop_index("uq_users_lower_name", table_name="users")
    op.execute("CREATE UNIQUE INDEX uq_users_name_key ON users (name_key(name))")


def downgrade() -> None:
    op.drop_index("uq_users_name_key", table_name="users")
    op.execute("CREATE UNIQUE INDEX uq_users_lower_name ON users (lower(name))")
    op.execute("DROP FUNCTION name_key(text)")
