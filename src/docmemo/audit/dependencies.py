"""Access rules of routes about one patient that file their refusals in the
patient's trail, and the rule of the trail itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Path

from docmemo.audit.service import may_read_trail, record_refusal
from docmemo.auth.dependencies import ClientAddress, LoggedInUser
from docmemo.auth.schemas import Identity
from docmemo.db.dependencies import DbConnection
from docmemo.db.models import AuditAction
from docmemo.errors import Forbidden

PatientNamePath = Annotated[str, Path(description="The patient's name; case is ignored")]


def role_rule_filing_refusals(
    action: AuditAction, allowed: Callable[[Identity], bool], refusal: str
) -> Any:
    """A dependency for a route with a ``{name}`` path parameter: 401 without a
    session; for a logged-in user whom ``allowed`` refuses, a ``denied`` row in the
    trail of the patient of that name (if there is one), then 403 ``refusal``."""

    async def check(
        db: DbConnection, identity: LoggedInUser, address: ClientAddress, name: PatientNamePath
    ) -> Identity:
        if not allowed(identity):
            await record_refusal(
                db, actor_id=identity.user_id, raw_name=name, action=action, address=address
            )
            raise Forbidden(refusal)
        return identity

    return Depends(check)


TrailReader = Annotated[
    Identity,
    role_rule_filing_refusals(
        AuditAction.READ_AUDIT_TRAIL,
        may_read_trail,
        "Only neurologists and general practitioners may read audit trails",
    ),
]
