"""Adding a person: a patient, a caregiver, or (by a health professional) a health
professional, with the API's rules (users.service.create_user) and its messages shown
next to the fields.

The role is chosen by ?role= (a GET form: it works without JavaScript); people.js
then switches the role's fields at once. After an addition the browser is sent back
(303) to an empty form, and a short-lived cookie carries the confirmation: the new
person's name stays out of the URL, hence out of the history and the access log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from docmemo.auth.cookies import cookie_is_secure
from docmemo.auth.dependencies import AppSettings, ClientAddress
from docmemo.auth.passwords import MAX_PASSWORD_LENGTH
from docmemo.clinic.dependencies import Viewer
from docmemo.clinic.forms import FormErrors, parse_int
from docmemo.clinic.templating import app_url, redirect, render
from docmemo.db.dependencies import DbPool
from docmemo.db.models import MAX_AGE, MAX_NAME_LENGTH, Role, Specialty
from docmemo.errors import Forbidden, InvalidInput, NameTaken
from docmemo.users import service as users
from docmemo.users.names import clean_name
from docmemo.users.schemas import NewUser

router = APIRouter()

_PATH = "/people/new"
_ADDED_COOKIE = "docmemo_added"
_ADDED_COOKIE_S = 120
# Values given back to the form are cut: nobody types more, and a page must stay small.
_ECHO_LIMIT = MAX_NAME_LENGTH
_FIELDS = frozenset(
    {"name", "password", "password_again", "age", "mmse", "caregiver_name", "specialty"}
)
_HEALTHPRO_ONLY = (
    "Only a signed-in health professional may add a health professional. Nothing was added."
)


@dataclass(frozen=True)
class RoleChoice:
    role: Role
    label: str
    hint: str


_ROLES = (
    RoleChoice(Role.PATIENT, "Patient", "Age, MMSE score, and their caregiver if they have one"),
    RoleChoice(Role.CAREGIVER, "Caregiver", "Looks after patients; only a name and a password"),
    RoleChoice(
        Role.HEALTHPRO,
        "Health professional",
        "General practitioner, psychologist or neurologist of the clinic",
    ),
)
_SPECIALTIES = (
    (Specialty.GENERAL, "General practitioner"),
    (Specialty.PSYCHOLOGIST, "Psychologist"),
    (Specialty.NEUROLOGIST, "Neurologist"),
)
_ROLE_NOUN = {
    Role.PATIENT: "patient",
    Role.CAREGIVER: "caregiver",
    Role.HEALTHPRO: "health professional",
}


def _field_of(invalid: InvalidInput) -> str:
    """The form's field for the API parameter the service names; the form's own
    message area for any other (every message must be seen somewhere)."""
    field = "caregiver_name" if invalid.field == "caregiver_id" else invalid.field
    return field if field in _FIELDS else "form"


def _sentence(message: str) -> str:
    """The API's message as a sentence on the page: a capital first, a full stop last."""
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "!", "?", ")")) else message + "."


def _role_from(raw: str | None) -> Role | None:
    try:
        return Role((raw or "").strip())
    except ValueError:
        return None


def _form_page(
    request: Request,
    role: Role,
    status_code: int = 200,
    *,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    added: dict | None = None,
) -> Response:
    viewer = getattr(request.state, "viewer", None)
    choices = [choice for choice in _ROLES if users.can_create(viewer, choice.role)]
    return render(
        request,
        "people_new.html",
        status_code=status_code,
        active="people",
        role=role.value,
        choices=choices,
        may_add_healthpro=users.can_create(viewer, Role.HEALTHPRO),
        specialties=_SPECIALTIES,
        role_noun={role.value: noun for role, noun in _ROLE_NOUN.items()},
        values={key: value[:_ECHO_LIMIT] for key, value in (values or {}).items()},
        errors=errors or FormErrors(),
        added=added,
        max_age=MAX_AGE,
    )


def _read_added(request: Request) -> dict | None:
    """The confirmation left by the last addition, if it is well formed."""
    raw = request.cookies.get(_ADDED_COOKIE)
    if not raw:
        return None
    try:
        added = json.loads(unquote(raw))
        role = Role(added["role"])
        name = str(added["name"])[:MAX_NAME_LENGTH]
    except (ValueError, KeyError, TypeError):
        return None
    return {
        "name": name,
        "noun": _ROLE_NOUN[role],
        "href": app_url(request, f"/patients/{quote(name, safe='')}")
        if role is Role.PATIENT and added.get("visible") is True
        else None,
    }


@router.get(_PATH)
async def new_person_page(
    request: Request, viewer: Viewer, settings: AppSettings, role: str | None = None
) -> Response:
    chosen = _role_from(role) or Role.PATIENT
    added = _read_added(request)
    if not users.can_create(viewer, chosen):
        errors = FormErrors()
        errors.add("form", _HEALTHPRO_ONLY)
        response = _form_page(request, Role.PATIENT, 403, errors=errors, added=added)
    else:
        response = _form_page(request, chosen, added=added)
    if added is not None:
        response.delete_cookie(_ADDED_COOKIE, **_added_cookie_attributes(request, settings))
    return response


def _added_cookie_attributes(request: Request, settings: AppSettings) -> dict:
    return {
        "path": app_url(request, _PATH),
        "httponly": True,
        "samesite": "lax",
        "secure": cookie_is_secure(request, settings),
    }


@router.post(_PATH)
async def add_person(
    request: Request,
    pool: DbPool,
    settings: AppSettings,
    viewer: Viewer,
    address: ClientAddress,
    role: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    password_again: Annotated[str, Form()] = "",
    age: Annotated[str, Form()] = "",
    mmse: Annotated[str, Form()] = "",
    caregiver_name: Annotated[str, Form()] = "",
    specialty: Annotated[str, Form()] = "",
) -> Response:
    chosen = _role_from(role)
    values = {
        "name": name,
        "age": age,
        "mmse": mmse,
        "caregiver_name": caregiver_name,
        "specialty": specialty,
    }
    errors = FormErrors()
    if chosen is None:
        errors.add(
            "form", "Choose who you are adding: a patient, a caregiver or a health professional."
        )
        return _form_page(request, Role.PATIENT, 422, values=values, errors=errors)
    if not users.can_create(viewer, chosen):
        # Asked before reading the rest: nothing of the role may be written, whatever it says.
        errors.add("form", _HEALTHPRO_ONLY)
        return _form_page(request, Role.PATIENT, 403, values=values, errors=errors)

    new_user = _read_fields(chosen, name, password, password_again, age, mmse, specialty, errors)
    if errors or new_user is None:
        return _form_page(request, chosen, 422, values=values, errors=errors)
    try:
        record = await users.create_user(
            pool,
            viewer,
            name,
            new_user,
            address,
            caregiver_name=(caregiver_name.strip() or None) if chosen is Role.PATIENT else None,
        )
    except NameTaken as taken:
        errors.add("name", taken.detail)
        return _form_page(request, chosen, taken.status_code, values=values, errors=errors)
    except InvalidInput as invalid:
        errors.add(_field_of(invalid), _sentence(invalid.detail))
        return _form_page(request, chosen, invalid.status_code, values=values, errors=errors)
    except Forbidden as refused:
        errors.add("form", _sentence(refused.detail))
        return _form_page(request, Role.PATIENT, refused.status_code, values=values, errors=errors)

    response = redirect(request, f"{_PATH}?role={chosen.value}")
    added = {
        "name": record.name,
        "role": record.status.value,
        # The link to the new patient's page only for someone who may open it.
        "visible": viewer is not None and users.can_read(viewer, record),
    }
    response.set_cookie(
        _ADDED_COOKIE,
        quote(json.dumps(added), safe=""),
        max_age=_ADDED_COOKIE_S,
        **_added_cookie_attributes(request, settings),
    )
    return response


def _read_fields(
    role: Role,
    name: str,
    password: str,
    password_again: str,
    age: str,
    mmse: str,
    specialty: str,
    errors: FormErrors,
) -> NewUser | None:
    """The new user as the service takes it, with every problem of the form in
    ``errors`` at once (the service then stops at its first)."""
    if not name.strip():
        errors.add("name", "Enter the person's name.")
    else:
        try:
            clean_name(name)
        except InvalidInput as invalid:
            errors.add("name", _sentence(invalid.detail))
    if not password:
        errors.add("password", "Choose a password.")
    elif len(password) > MAX_PASSWORD_LENGTH:
        errors.add("password", f"The password must be at most {MAX_PASSWORD_LENGTH} characters.")
    elif password_again != password:
        errors.add("password_again", "The two passwords are not the same. Type it again.")
    fields: dict[str, object] = {}
    if role is Role.PATIENT:
        fields["age"] = parse_int(age, "age", errors, label="age", minimum=0, maximum=MAX_AGE)
        fields["mmse"] = parse_int(mmse, "mmse", errors, label="MMSE score", minimum=0, maximum=30)
    elif role is Role.HEALTHPRO:
        try:
            fields["specialty"] = Specialty(specialty)
        except ValueError:
            errors.add("specialty", "Choose the specialty.")
    if errors:
        return None
    return NewUser(status=role, password=password, **fields)
