"""Who may read what: a reader's scope, turned into a WHERE clause (never a filter afterwards).

Roles map to scopes through ``INFOTRACK_ROLE_SCOPES``; unknown roles read only their own
records. A scope that needs a field the reader lacks (a department, say) matches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, true

from infotrack.auth.identity import Identity
from infotrack.config import ScopeKind, Settings
from infotrack.models.informationtra import informationtra

SCOPE_LABELS: dict[ScopeKind, str] = {
    "own": "本人记录",
    "department": "本部门",
    "company": "本公司",
    "all": "全部",
}


@dataclass(frozen=True, slots=True)
class ReadScope:
    """How far a reader may see, and with which of their fields."""

    kind: ScopeKind
    operator_id: str
    name: str | None
    company: str | None
    department: str | None
    unmasked: bool  # sees phone numbers in full

    def public(self) -> dict[str, object]:
        """The scope as ``/api/auth/me`` shows it."""
        return {
            "kind": self.kind,
            "label": SCOPE_LABELS[self.kind],
            "unmaskedPhones": self.unmasked,
        }


def scope_for(identity: Identity, settings: Settings) -> ReadScope:
    """The reader's scope from their role."""
    kind: ScopeKind = settings.role_scopes.get(identity.role or "", "own")
    return ReadScope(
        kind=kind,
        operator_id=identity.operator_id,
        name=identity.name,
        company=identity.company,
        department=identity.department,
        unmasked=(identity.role or "") in settings.unmasked_roles,
    )


def trail_clause(scope: ReadScope) -> ColumnElement[bool]:
    """The rows of ``informationtra`` this scope may read."""
    t = informationtra.c
    if scope.kind == "all":
        return true()
    if scope.kind == "company":
        return t.tracompany == scope.company if scope.company else false()
    if scope.kind == "department":
        if not (scope.company and scope.department):
            return false()
        return and_(t.tracompany == scope.company, t.tradepartment == scope.department)
    # Own records: ours carry the operator id; rows the CRM wrote itself only a name and company.
    mine = t.operator_id == scope.operator_id
    if scope.name and scope.company:
        crm_rows = and_(
            t.operator_id.is_(None), t.trauserName == scope.name, t.tracompany == scope.company
        )
        return or_(mine, crm_rows)
    return mine
