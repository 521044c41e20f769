"""Who may record assessments, as a route dependency."""

from __future__ import annotations

from typing import Annotated

from docmemo.assessments.service import can_record
from docmemo.audit.dependencies import role_rule_filing_refusals
from docmemo.auth.schemas import Identity
from docmemo.db.models import AuditAction

# 401 without a session, 403 for a logged-in user who is not a health professional
# (filed in the patient's audit trail as a denied record_assessment).
HealthPro = Annotated[
    Identity,
    role_rule_filing_refusals(
        AuditAction.RECORD_ASSESSMENT,
        can_record,
        "Only health professionals may record assessments",
    ),
]
