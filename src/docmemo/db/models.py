"""Tables of SPEC §1 plus the ones sessions and login throttling need.

The database enforces what it can: the role tables carry a constant ``status``
column so that a composite foreign key ties each role row to a user of that
status and that name; a deferred constraint trigger (in the migration) makes sure
no user exists without its role row.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USER_ID_PATTERN = "^[0-9a-f]{32}$"
MAX_NAME_LENGTH = 100
MAX_AGE = 130
EARLIEST_ASSESSMENT = date(1900, 1, 1)


class Role(enum.StrEnum):
    PATIENT = "patient"
    CAREGIVER = "caregiver"
    HEALTHPRO = "healthpro"


class Specialty(enum.StrEnum):
    GENERAL = "general"
    PSYCHOLOGIST = "psychologist"
    NEUROLOGIST = "neurologist"


def _in_list(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    password: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(f"user_id ~ '{USER_ID_PATTERN}'", name="user_id_hex"),
        CheckConstraint(_in_list("status", Role), name="status_allowed"),
        CheckConstraint(f"char_length(name) BETWEEN 1 AND {MAX_NAME_LENGTH}", name="name_length"),
        # Target of the role tables' composite foreign keys.
        UniqueConstraint("user_id", "status", "name"),
        # name_key() is the case fold of docmemo.users.names (migration 0002).
        Index("uq_users_name_key", func.name_key(text("name")), unique=True),
        # Searching names (migration 0007): any part of a name through pg_trgm, and
        # names' beginnings, in code-point order, whatever the database's collation.
        Index(
            "ix_users_name_key_trgm",
            func.name_key(text("name")).label("name_key"),
            postgresql_using="gin",
            postgresql_ops={"name_key": "gin_trgm_ops"},
        ),
        Index(
            "ix_users_name_key_prefix",
            func.name_key(text("name")).label("name_key"),
            postgresql_ops={"name_key": "text_pattern_ops"},
        ),
    )


def _role_table_args(role: Role) -> tuple:
    return (
        CheckConstraint(f"status = '{role.value}'", name="status_is_role"),
        ForeignKeyConstraint(
            ["user_id", "status", "name"],
            ["users.user_id", "users.status", "users.name"],
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
    )


class Patient(Base):
    __tablename__ = "patients"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(Text, server_default=Role.PATIENT.value)
    name: Mapped[str] = mapped_column(Text)
    age: Mapped[int] = mapped_column(SmallInteger)
    mmse: Mapped[int] = mapped_column(SmallInteger)
    caregiver_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("caregivers.user_id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        *_role_table_args(Role.PATIENT),
        CheckConstraint("mmse BETWEEN 0 AND 30", name="mmse_range"),
        CheckConstraint(f"age BETWEEN 0 AND {MAX_AGE}", name="age_range"),
    )


class Caregiver(Base):
    __tablename__ = "caregivers"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(Text, server_default=Role.CAREGIVER.value)
    name: Mapped[str] = mapped_column(Text)

    __table_args__ = _role_table_args(Role.CAREGIVER)


class HealthPro(Base):
    __tablename__ = "healthpros"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(Text, server_default=Role.HEALTHPRO.value)
    name: Mapped[str] = mapped_column(Text)
    specialty: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        *_role_table_args(Role.HEALTHPRO),
        CheckConstraint(_in_list("specialty", Specialty), name="specialty_allowed"),
    )


ROLE_TABLES: dict[Role, type[Patient] | type[Caregiver] | type[HealthPro]] = {
    Role.PATIENT: Patient,
    Role.CAREGIVER: Caregiver,
    Role.HEALTHPRO: HealthPro,
}


class Assessment(Base):
    """One MMSE assessment of a patient (migration 0004). ``patients.mmse`` is the score
    of the latest one, latest meaning greatest ``(assessed_at, assessment_id)``."""

    __tablename__ = "assessments"

    assessment_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    patient_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("patients.user_id", ondelete="CASCADE")
    )
    mmse: Mapped[int] = mapped_column(SmallInteger)
    assessed_at: Mapped[date] = mapped_column(Date)
    # Who recorded it; NULL for generated histories and once that user is deleted.
    recorded_by: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("users.user_id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("mmse BETWEEN 0 AND 30", name="mmse_range"),
        CheckConstraint(
            f"assessed_at >= DATE '{EARLIEST_ASSESSMENT.isoformat()}'", name="assessed_at_range"
        ),
        Index(None, "patient_id", "assessed_at", "assessment_id"),
        Index(None, "recorded_by", postgresql_where=text("recorded_by IS NOT NULL")),
    )


class ProgressionModel(Base):
    """A fitted MMSE progression model; the one served has the latest ``fitted_at``."""

    __tablename__ = "progression_models"

    model_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    version: Mapped[str] = mapped_column(Text, unique=True)
    fitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    evaluation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    n_patients: Mapped[int] = mapped_column(Integer)
    n_assessments: Mapped[int] = mapped_column(Integer)


class PatientCountByMmse(Base):
    """Patients with each MMSE score, cumulative over age (migration 0008), kept exact
    by triggers on ``patients``: ``up_to_age[a + 2]`` patients with this score are aged
    ``a`` or less, ``up_to_age[1]`` is 0. Aged ``lo`` to ``hi``: ``up_to_age[hi + 2] -
    up_to_age[lo + 1]``, so a count reads at most 31 rows at any registry size."""

    __tablename__ = "patient_counts_by_mmse"

    mmse: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    up_to_age: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))

    __table_args__ = (
        CheckConstraint("mmse BETWEEN 0 AND 30", name="mmse_range"),
        CheckConstraint(
            f"array_ndims(up_to_age) = 1 AND array_lower(up_to_age, 1) = 1 "
            f"AND array_upper(up_to_age, 1) = {MAX_AGE + 2} AND up_to_age[1] = 0",
            name="one_entry_per_age",
        ),
    )


class RoleCount(Base):
    """Rows of each role table, over a few slots (fewer waits between concurrent
    writers), kept exact by triggers on the role tables (migration 0003)."""

    __tablename__ = "role_counts"

    status: Mapped[str] = mapped_column(Text, primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    users: Mapped[int] = mapped_column(BigInteger)


class Session(Base):
    """A login session. Only an HMAC of the token is stored, never the token."""

    __tablename__ = "sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.user_id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Refreshed at most once a minute (auth.service), for the idle expiry (migration 0006).
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class LoginThrottle(Base):
    """Failed logins per account name (lower-cased), shared by every API process."""

    __tablename__ = "login_throttle"

    account_key: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, server_default="0")
    # Indexed: stale rows are purged a few at a time, oldest first (migration 0006).
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginAddressThrottle(Base):
    """Failed logins per client address (IPv4, or an IPv6 /64) in a fixed window,
    shared by every API process (migration 0006)."""

    __tablename__ = "login_address_throttle"

    address: Mapped[str] = mapped_column(INET, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    __table_args__ = (CheckConstraint("failures >= 0", name="failures_not_negative"),)


class AuditAction(enum.StrEnum):
    """What an audit row records (migration 0005 lists the same values)."""

    READ_RECORD = "read_record"
    PREDICT = "predict"
    READ_ASSESSMENTS = "read_assessments"
    RECORD_ASSESSMENT = "record_assessment"
    READ_AUDIT_TRAIL = "read_audit_trail"
    CREATE_USER = "create_user"
    CHANGE_PASSWORD = "change_password"  # noqa: S105 - an action's name, not a secret


class AuditOutcome(enum.StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


class AuditEvent(Base):
    """One audited read or write of a user's record (migration 0005): append-only,
    no health values, and no foreign keys, so a row outlives the users it names."""

    __tablename__ = "audit_events"

    event_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # NULL: an anonymous caller (creating a patient or a caregiver).
    actor_id: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text, server_default=AuditOutcome.ALLOWED.value)
    address: Mapped[str | None] = mapped_column(INET)

    __table_args__ = (
        CheckConstraint(_in_list("action", AuditAction), name="action_allowed"),
        CheckConstraint(_in_list("outcome", AuditOutcome), name="outcome_allowed"),
        CheckConstraint(f"actor_id ~ '{USER_ID_PATTERN}'", name="actor_id_hex"),
        CheckConstraint(f"subject_id ~ '{USER_ID_PATTERN}'", name="subject_id_hex"),
        # The trail of one patient, newest first.
        Index(None, "subject_id", "event_id"),
    )
