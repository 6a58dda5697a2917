"""The access log: every read of the trail, and every administrative act, is recorded here.

Reads come from the API and the CLI (history, exports, stats…); administrative acts are
account changes, rules changes, archives, erasures and anchors, each with who and when.

The log is append-only for infotrack: nothing here (or anywhere in the package) updates or
deletes an entry, and the application user's grants allow only INSERT and SELECT on it.
Whoever may administer accounts never reads the entries of their own acts
(:func:`list_access`'s ``hide_operator``): the administrator is not their own auditor.
"""

from __future__ import annotations

import getpass
import json
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, select, true
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

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


def entry_values(
    ctx: AccessContext,
    action: str,
    filters: dict[str, Any],
    row_count: int,
    occurred_at: datetime,
) -> dict[str, Any]:
    """The columns of one access-log entry (for writers that insert in their own transaction)."""
    who = ctx.identity
    return {
        "occurred_at": occurred_at,
        "operator_id": who.operator_id,
        "operator_name": who.name,
        "company": who.company,
        "department": who.department,
        "role": who.role,
        "action": action,
        "filters": json.dumps(filters, ensure_ascii=False, default=str),
        "row_count": row_count,
        "client_addr": ctx.client_addr,
        "request_id": ctx.request_id,
    }


def add_entry(
    session: Session,
    zone: ZoneInfo,
    ctx: AccessContext,
    action: str,
    filters: dict[str, Any],
    row_count: int,
) -> None:
    """Add one entry to ``session``: it commits with the act it records, or not at all."""
    session.add(AccessLogEntry(**entry_values(ctx, action, filters, row_count, local_now(zone))))


def record_access(
    engine: Engine,
    zone: ZoneInfo,
    ctx: AccessContext,
    action: str,
    filters: dict[str, Any],
    row_count: int,
) -> None:
    """Append one access-log entry (its own short transaction)."""
    with session_scope(engine) as session:
        add_entry(session, zone, ctx, action, filters, row_count)


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


def system_context(operator_id: str, name: str) -> AccessContext:
    """A process of infotrack itself acting (the alert worker noticing a new rules file)."""
    # An id that names what acted; over the column's width, the end (a file's name) is kept.
    who = operator_id if len(operator_id) <= 128 else "…" + operator_id[-127:]
    return AccessContext(
        Identity(
            via="cli",  # a process on the server, accountable like the CLI
            operator_id=who,
            company=None,
            department=None,
            organization=None,
            role="系统",
            name=name[:100],
            assistant=None,
            side=None,
        )
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
    engine: Engine,
    zone: ZoneInfo,
    scope: ReadScope,
    *,
    before_id: int | None,
    limit: int,
    hide_operator: str | None = None,
) -> list[dict[str, Any]]:
    """Entries within the reader's scope, newest first; none of ``hide_operator``'s.

    ``hide_operator`` is the reader's own operator id when they may administer accounts:
    the entries of an administrator's acts are for someone else to read.
    """
    log = AccessLogEntry
    query = select(log).where(_scope_clause(scope))
    if hide_operator is not None:
        query = query.where(log.operator_id != hide_operator)
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
