"""The access log: every read of the trail, and every administrative act, is recorded here.

Reads come from the API and the CLI (history, exports, stats…); administrative acts are
account changes, rules changes, archives, erasures and anchors, each with who and when.
"""

from __future__ import annotations

import getpass
import json
import socket
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, select, true
from sqlalchemy.engine import Engine

from infotrack.auth.identity import Identity
from infotrack.db import session_scope
from infotrack.history.scope import ReadScope
from infotrack.kit.clock import local_now, to_aware
from infotrack.models import AccessLogEntry


@dataclass(frozen=True, slots=True)
class AccessContext:
    """Who reads, from where, in which request."""

    identity: Identity
    client_addr: str | None = None
    request_id: str | None = None


def record_access(
    engine: Engine,
    zone: ZoneInfo,
    ctx: AccessContext,
    action: str,
    filters: dict[str, Any],
    row_count: int,
) -> None:
    """Append one access-log entry (its own short transaction)."""
    who = ctx.identity
    with session_scope(engine) as session:
        session.add(
            AccessLogEntry(
                occurred_at=local_now(zone),
                operator_id=who.operator_id,
                operator_name=who.name,
                company=who.company,
                department=who.department,
                role=who.role,
                action=action,
                filters=json.dumps(filters, ensure_ascii=False, default=str),
                row_count=row_count,
                client_addr=ctx.client_addr,
                request_id=ctx.request_id,
            )
        )


def cli_context(name: str | None = None) -> AccessContext:
    """The person behind a CLI command: the OS account on this host (and a name if given).

    CLI commands run on the server with the database credentials, so the OS account is the
    accountable identity; ``name`` records who says they are acting (``--by``).
    """
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (containers): still say which host
        user = "unknown"
    host = socket.gethostname()
    who = f"cli:{user}@{host}"[:128]
    return AccessContext(
        Identity(
            via="cli",
            operator_id=who,
            company=None,
            department=None,
            organization=None,
            role="CLI",
            name=(name or user)[:100],
            assistant=None,
            side=None,
        ),
        client_addr=None,
        request_id=None,
    )


def record_admin_act(
    engine: Engine,
    zone: ZoneInfo,
    ctx: AccessContext,
    action: str,
    details: dict[str, Any],
    row_count: int = 0,
) -> None:
    """Log an administrative act (``account_add``, ``rules_changed``, ``archive``, ``erase``,
    ``anchor``…) with who and when; ``details`` says what was done, never personal data."""
    record_access(engine, zone, ctx, action, details, row_count)


def _scope_clause(scope: ReadScope) -> ColumnElement[bool]:
    log = AccessLogEntry
    if scope.kind == "all":
        return true()
    if scope.kind == "company":
        return log.company == scope.company if scope.company else false()
    if scope.kind == "department":
        if not (scope.company and scope.department):
            return false()  # as for the trail: a scope missing its fields matches nothing
        return and_(log.company == scope.company, log.department == scope.department)
    return log.operator_id == scope.operator_id


def list_access(
    engine: Engine, zone: ZoneInfo, scope: ReadScope, *, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Entries within the reader's scope, newest first."""
    log = AccessLogEntry
    query = select(log).where(_scope_clause(scope))
    if before_id is not None:
        query = query.where(log.id < before_id)
    query = query.order_by(log.id.desc()).limit(limit)
    with session_scope(engine) as session:
        return [
            {
                "id": e.id,
                "occurredAt": to_aware(e.occurred_at, zone).isoformat(),
                "operatorId": e.operator_id,
                "operatorName": e.operator_name,
                "company": e.company,
                "department": e.department,
                "role": e.role,
                "action": e.action,
                "filters": json.loads(e.filters) if e.filters else {},
                "rowCount": e.row_count,
                "clientAddr": e.client_addr,
                "requestId": e.request_id,
            }
            for e in session.scalars(query)
        ]
