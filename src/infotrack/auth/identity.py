"""Who is calling: the identity infotrack stamps on records, from one of three sources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from infotrack.tracking.recorder import Operator

Via = Literal["account", "jwt", "proxy", "cli"]


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller."""

    via: Via
    operator_id: str
    company: str | None
    department: str | None
    organization: str | None
    role: str | None
    name: str | None
    assistant: str | None
    side: str | None  # "supply" | "sales" | None when the issuer does not say
    username: str | None = None
    account_id: int | None = None

    @property
    def operator(self) -> Operator:
        """The fields written with every record."""
        return Operator(
            operator_id=self.operator_id,
            company=self.company,
            department=self.department,
            organization=self.organization,
            role=self.role,
            name=self.name,
            assistant=self.assistant,
            side=self.side,
        )

    def public(self) -> dict[str, Any]:
        """The identity as ``/api/auth/me`` shows it."""
        return {
            "operatorId": self.operator_id,
            "username": self.username,
            "company": self.company,
            "department": self.department,
            "organization": self.organization,
            "role": self.role,
            "name": self.name,
            "assistant": self.assistant,
            "side": self.side,
            "via": self.via,
        }
