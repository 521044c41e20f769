"""Tables of SPEC §1 plus the ones sessions and login throttling need.

The database enforces what it can: the role tables carry a constant ``status``
column so that a composite foreign key ties each role row to a user of that
status and that name; a deferred constraint trigger (in the migration) makes sure
no user exists without its role row.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
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


class PatientCount(Base):
    """Patients per (MMSE, age), kept exact by triggers on ``patients`` (migration 0003):
    at most 31 × 131 rows, so counts cost the same at any registry size."""

    __tablename__ = "patient_counts"

    mmse: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    age: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    patients: Mapped[int] = mapped_column(BigInteger)


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


class LoginThrottle(Base):
    """Failed logins per account name (lower-cased), shared by every API process."""

    __tablename__ = "login_throttle"

    account_key: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, server_default="0")
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
