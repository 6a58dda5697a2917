"""``infotrack history``: the trail in a terminal, with the same scope and masking rules."""

from __future__ import annotations

import getpass

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from infotrack.audit.access_log import AccessContext
from infotrack.auth.identity import Identity
from infotrack.auth.service import identity_of
from infotrack.config import Settings
from infotrack.db import session_scope
from infotrack.errors import NotFound
from infotrack.history.schemas import TrailFilters, parse_limit
from infotrack.history.scope import ReadScope, scope_for
from infotrack.history.service import HistoryService
from infotrack.models import Account
from infotrack.runtime import Runtime


def cli_reader(runtime: Runtime, username: str | None) -> tuple[Identity, ReadScope]:
    """The account named by ``--as``, or the shell user reading everything with phones masked."""
    settings = runtime.settings
    if username:
        with session_scope(runtime.sources.wechat) as session:
            account = session.scalar(select(Account).where(Account.username == username))
            if account is None:
                raise NotFound(f"账号 {username} 不存在", code="account_not_found")
            identity = identity_of(account)
        return identity, scope_for(identity, settings)
    identity = Identity(
        via="account",
        operator_id=f"cli:{getpass.getuser()}",
        company=None,
        department=None,
        organization=None,
        role=None,
        name=getpass.getuser(),
        assistant=None,
        side=None,
    )
    scope = ReadScope("all", identity.operator_id, None, None, None, unmasked=False)
    return identity, scope


def history_command(
    settings: Settings,
    out: Console,
    filters: TrailFilters,
    *,
    limit: int,
    as_user: str | None,
) -> int:
    """Print the newest matching records; returns how many were printed."""
    runtime = Runtime.build(settings)
    try:
        identity, scope = cli_reader(runtime, as_user)
        page = HistoryService(runtime).search(
            filters, scope, AccessContext(identity, "cli"), limit=parse_limit(limit), cursor=None
        )
    finally:
        runtime.sources.dispose()
    table = Table("ID", "操作时间", "操作人", "部门", "事件类型", "操作事件", "客户", "来源")
    for item in page.items:
        table.add_row(
            str(item["id"]),
            (item["operationTime"] or "")[:19].replace("T", " "),
            item["trauserName"] or "",
            item["tradepartment"] or "",
            item["eventLabel"] or "",
            item["operationEvent"] or "",
            f"{item['customerName'] or ''} ({item['userId']})",
            item["source"],
        )
    out.print(table)
    out.print(
        f"{len(page.items)} 条" + (",还有更多(用 --limit 或更窄的条件)" if page.next_cursor else "")
    )
    return len(page.items)
