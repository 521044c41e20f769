"""/create_user/{name} and /get_user_by_name/{name}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from docmemo.auth.dependencies import (
    ClientAddress,
    MaybeUser,
    client_address_of,
    session_token_of,
)
from docmemo.auth.passwords import MAX_PASSWORD_LENGTH
from docmemo.db.dependencies import DbPool
from docmemo.db.models import MAX_AGE, Role, Specialty
from docmemo.users import service
from docmemo.users.schemas import CaregiverOut, HealthProOut, NewUser, PatientOut, UserOut
from docmemo.web.dependencies import only_query_parameters
from docmemo.web.reads import reads_of
from docmemo.web.schemas import error_responses

router = APIRouter(tags=["users"])

NamePath = Annotated[str, Path(description="The person's name; case is ignored")]


def to_out(record: service.UserRecord) -> PatientOut | CaregiverOut | HealthProOut:
    if record.status is Role.PATIENT:
        return PatientOut(
            user_id=record.user_id,
            name=record.name,
            age=record.age,
            mmse=record.mmse,
            caregiver_id=record.caregiver_id,
        )
    if record.status is Role.HEALTHPRO:
        return HealthProOut(user_id=record.user_id, name=record.name, specialty=record.specialty)
    return CaregiverOut(user_id=record.user_id, name=record.name)


@router.post(
    "/create_user/{name}",
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        only_query_parameters("status", "password", "age", "mmse", "caregiver_id", "specialty")
    ],
    response_model=UserOut,
    responses=error_responses(
        e403="Creating a health professional without being one",
        e409="The name exists already, in any case",
        e422="A parameter is missing, invalid, or does not fit the role",
    ),
)
async def create_user(
    pool: DbPool,
    actor: MaybeUser,
    address: ClientAddress,
    name: NamePath,
    status: Annotated[Role, Query(description="caregiver, healthpro or patient")],
    password: Annotated[
        str, Query(min_length=1, max_length=MAX_PASSWORD_LENGTH, description="Case-sensitive")
    ],
    age: Annotated[int | None, Query(ge=0, le=MAX_AGE, description="Patients only")] = None,
    mmse: Annotated[int | None, Query(ge=0, le=30, description="Patients only, 0–30")] = None,
    caregiver_id: Annotated[
        str | None, Query(max_length=64, description="Patients only: an existing caregiver")
    ] = None,
    specialty: Annotated[Specialty | None, Query(description="Health professionals only")] = None,
) -> PatientOut | CaregiverOut | HealthProOut:
    """Add a user. Anyone may add a patient or a caregiver; only a logged-in health
    professional may add a health professional."""
    new_user = NewUser(
        status=status,
        password=password,
        age=age,
        mmse=mmse,
        caregiver_id=caregiver_id,
        specialty=specialty,
    )
    return to_out(await service.create_user(pool, actor, name, new_user, address))


@router.get(
    "/get_user_by_name/{name}",
    response_model=UserOut,
    responses=error_responses(
        e401="Not logged in",
        e404="No such user, or one you may not see (the same answer)",
    ),
)
async def get_user_by_name(
    request: Request, name: NamePath
) -> PatientOut | CaregiverOut | HealthProOut:
    """A user's record. Health professionals may read anyone; caregivers themselves and
    their patients; patients themselves."""
    # A busy route: no dependencies (web.reads.reads_of says why). The session is
    # looked up by the record's own statement (users.service.read_records).
    read = service.record_read(session_token_of(request), name, client_address_of(request))
    return to_out(service.shown_record(read, await reads_of(request).records(read)))
