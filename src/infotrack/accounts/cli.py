"""``infotrack account``: add, list, disable and enable built-in accounts from the server.

The CLI runs with the database credentials, so it answers to no role: whoever runs it is
accountable as the OS account on this host (``cli:<user>@<host>``, and ``--by`` for the
person's name). Each act is written to the access log in the transaction that makes it.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infotrack.accounts.service import account_act
from infotrack.audit.access_log import add_entry, cli_context
from infotrack.auth.service import AccountFields, add_account, list_accounts, set_disabled
from infotrack.config import Settings, get_settings
from infotrack.db import Sources, session_scope
from infotrack.errors import AppError
from infotrack.logs import configure_logging

account_app = typer.Typer(help="Manage built-in operator accounts.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

ByOpt = Annotated[str | None, typer.Option("--by", help="执行人姓名(记入访问日志)")]


def _settings() -> Settings:
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    return settings


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]错误:[/] {escape(message)}")
    return typer.Exit(code)


@account_app.command("add")
def account_add(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    company: Annotated[str | None, typer.Option(help="公司")] = None,
    department: Annotated[str | None, typer.Option(help="部门")] = None,
    organization: Annotated[str | None, typer.Option(help="组织")] = None,
    role: Annotated[str | None, typer.Option(help="角色,如 业务员 / 经理 / 管理员")] = None,
    name: Annotated[str | None, typer.Option(help="姓名")] = None,
    assistant: Annotated[str | None, typer.Option(help="协助人")] = None,
    side: Annotated[str, typer.Option(help="supply(供应端)or sales(销售端)")] = "supply",
    by: ByOpt = None,
) -> None:
    """Add an account; the password comes from stdin (never from the command line)."""
    if not password_stdin:
        raise _fail("请用 --password-stdin 从标准输入提供密码(命令行参数会留在 shell 历史里)", 2)
    password = sys.stdin.readline().rstrip("\r\n")
    settings = _settings()
    sources = Sources.from_settings(settings)
    fields = AccountFields(company, department, organization, role, name, assistant, side)
    try:
        with session_scope(sources.wechat) as session:
            account = add_account(session, username, password, fields, settings.zone)
            account_id = account.id
            add_entry(
                session, settings.zone, cli_context(by), "account_add", account_act(account), 1
            )
    except AppError as exc:
        raise _fail(exc.message) from exc
    finally:
        sources.dispose()
    out.print(f"account [bold]{escape(username)}[/] added (operator id account:{account_id})")


@account_app.command("list")
def account_list(by: ByOpt = None) -> None:
    """List accounts."""
    settings = _settings()
    sources = Sources.from_settings(settings)
    try:
        with session_scope(sources.wechat) as session:
            accounts = list_accounts(session)
            add_entry(session, settings.zone, cli_context(by), "account_list", {}, len(accounts))
    finally:
        sources.dispose()
    table = Table(
        "id", "username", "姓名", "公司", "部门", "组织", "角色", "协助人", "side", "状态"
    )
    for a in accounts:
        table.add_row(
            str(a.id),
            a.username,
            a.name or "",
            a.company or "",
            a.department or "",
            a.organization or "",
            a.role or "",
            a.assistant or "",
            a.side,
            "停用" if a.disabled else "启用",
        )
    out.print(table)


@account_app.command("disable")
def account_disable(username: str, by: ByOpt = None) -> None:
    """Disable an account: its tokens stop working within seconds."""
    _toggle(username, disabled=True, by=by)


@account_app.command("enable")
def account_enable(username: str, by: ByOpt = None) -> None:
    """Enable a disabled account again."""
    _toggle(username, disabled=False, by=by)


def _toggle(username: str, *, disabled: bool, by: str | None) -> None:
    settings = _settings()
    sources = Sources.from_settings(settings)
    action = "account_disable" if disabled else "account_enable"
    try:
        with session_scope(sources.wechat) as session:
            account = set_disabled(session, username, disabled, settings.zone)
            add_entry(
                session, settings.zone, cli_context(by), action, {"username": account.username}, 1
            )
    except AppError as exc:
        raise _fail(exc.message) from exc
    finally:
        sources.dispose()
    out.print(f"account [bold]{escape(username)}[/] {'disabled' if disabled else 'enabled'}")
