"""The ``infotrack`` command. Thin: parses options, calls services, prints results."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from infotrack.accounts.cli import account_app
from infotrack.alerts.cli import alerts_app
from infotrack.audit.anchor_cli import anchor_command
from infotrack.audit.archive_cli import archive_app
from infotrack.audit.erase_cli import erase_command
from infotrack.audit.grants import grants_command
from infotrack.audit.verify_cli import verify_command
from infotrack.config import Settings, get_settings
from infotrack.db import Sources
from infotrack.errors import AppError
from infotrack.history.schemas import TrailFilters, parse_filters
from infotrack.logs import configure_logging

app = typer.Typer(
    help="infotrack:客户信息跟踪 — records what salespeople do to customer records.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(account_app, name="account")
app.add_typer(alerts_app, name="alerts")
app.add_typer(archive_app, name="archive")
# Audit and compliance (each command lives with its module in infotrack.audit).
app.command("verify")(verify_command)
app.command("anchor")(anchor_command)
app.command("erase")(erase_command)
app.command("grants")(grants_command)

out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    return settings


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]错误:[/] {message}")
    return typer.Exit(code)


@app.command()
def init(
    drop_cascade_fk: Annotated[
        bool,
        typer.Option(
            "--drop-cascade-fk",
            help="Remove the seed's FK informationtra.userId -> users (asked for explicitly only).",
        ),
    ] = False,
) -> None:
    """Create what is missing in both sources and upgrade our schema (idempotent)."""
    from infotrack.maintenance.schema import initialise, migration_sources

    settings = _settings()
    sources = migration_sources(settings)  # the migration user's URL when one is set
    try:
        report = initialise(sources, settings, drop_cascade_fk=drop_cascade_fk)
    except AppError as exc:
        raise _fail(exc.message) from exc
    finally:
        sources.dispose()
    for name in report.created:
        out.print(f"created table [bold]{name}[/]")
    if report.migrated_from != report.migrated_to:
        out.print(f"schema migrated {report.migrated_from or '(empty)'} -> {report.migrated_to}")
    else:
        out.print(f"schema up to date ({report.migrated_to})")
    if report.dropped_fk:
        out.print(f"dropped foreign key [bold]{report.dropped_fk}[/] as asked")
    if report.remaining_fk:
        err.print(
            f"[yellow]警告:[/] informationtra 仍有级联外键 {report.remaining_fk} 指向 "
            f"{settings.users_table}:只在 contacts 中的客户无法记录,且删除客户会删除其操作记录。"
            "确认后运行 `infotrack init --drop-cascade-fk` 移除。"
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    import uvicorn

    from infotrack.alerts.rules import load_rules

    settings = _settings()
    try:
        settings.resolved_secret_key()  # fail before forking, and share one generated key
        settings.resolved_audit_key()  # the same for the chain's key
        if settings.alerts_in_process:
            load_rules(settings.alert_rules_file)  # a bad rules file stops the start, clearly
    except AppError as exc:
        raise _fail(exc.message) from exc
    uvicorn.run(
        "infotrack.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # we read X-Forwarded-For ourselves, from trusted proxies only
        access_log=False,  # the request middleware logs each request with its request id
        log_level=settings.log_level.lower(),
    )


@app.command()
def demo(
    events: Annotated[int, typer.Option(min=0, help="How many events to generate.")] = 3000,
    days: Annotated[int, typer.Option(min=1, help="Spread events over this many days.")] = 28,
) -> None:
    """Load a believable demo data set (customers, accounts, some weeks of events)."""
    from infotrack.maintenance.demo import load_demo

    settings = _settings()
    sources = Sources.from_settings(settings)
    try:
        summary = load_demo(sources, settings, events=events, days=days)
    except AppError as exc:
        raise _fail(exc.message) from exc
    finally:
        sources.dispose()
    out.print(summary)


PhoneOpt = Annotated[str | None, typer.Option("--phone", help="客户电话(任意写法)")]
UserIdOpt = Annotated[str | None, typer.Option("--user-id", help="客户ID")]
OperatorOpt = Annotated[str | None, typer.Option("--operator", help="操作人姓名")]
DepartmentOpt = Annotated[str | None, typer.Option("--department", help="部门")]
EventTypeOpt = Annotated[str | None, typer.Option("--event-type", help="事件类型代码")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="wechat | primary")]
FromOpt = Annotated[str | None, typer.Option("--from", help="起始时间 ISO 8601")]
ToOpt = Annotated[str | None, typer.Option("--to", help="结束时间 ISO 8601")]
TextOpt = Annotated[str | None, typer.Option("--q", help="操作事件包含的文字")]
AsOpt = Annotated[str | None, typer.Option("--as", help="以该账号的权限范围和脱敏规则读取")]


def _trail_filters(settings: Settings, **raw: str | None) -> TrailFilters:
    """A command's history filters, validated as the API validates them."""
    return parse_filters(settings.zone, settings.default_region, **raw)


@app.command()
def history(
    phone: PhoneOpt = None,
    user_id: UserIdOpt = None,
    operator: OperatorOpt = None,
    department: DepartmentOpt = None,
    event_type: EventTypeOpt = None,
    source: SourceOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    q: TextOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="最多显示条数(1–200)")] = 50,
    as_user: AsOpt = None,
) -> None:
    """Print the trail as a table (phones masked; ``--as`` applies an account's scope)."""
    from infotrack.history.cli import history_command

    settings = _settings()
    try:
        filters = _trail_filters(
            settings,
            phone=phone,
            user_id=user_id,
            operator=operator,
            department=department,
            event_type=event_type,
            source=source,
            start=start,
            end=end,
            q=q,
        )
        history_command(settings, out, filters, limit=limit, as_user=as_user)
    except AppError as exc:
        raise _fail(exc.message) from exc


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="xlsx | csv | pdf")],
    dest: Annotated[str, typer.Option("--out", help="输出文件;- 表示标准输出")],
    phone: PhoneOpt = None,
    user_id: UserIdOpt = None,
    operator: OperatorOpt = None,
    department: DepartmentOpt = None,
    event_type: EventTypeOpt = None,
    source: SourceOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    q: TextOpt = None,
    as_user: AsOpt = None,
) -> None:
    """Export the trail to XLSX, CSV or PDF (same filters, scope and masking as history)."""
    from infotrack.exports.cli import export_command

    settings = _settings()
    try:
        filters = _trail_filters(
            settings,
            phone=phone,
            user_id=user_id,
            operator=operator,
            department=department,
            event_type=event_type,
            source=source,
            start=start,
            end=end,
            q=q,
        )
        export_command(settings, err, filters, fmt=fmt, out=dest, as_user=as_user)
    except AppError as exc:
        raise _fail(exc.message) from exc


@app.command()
def doctor() -> None:
    """Check both connections and the schema, and say in plain words what to fix."""
    from infotrack.maintenance.doctor import print_report, run_checks

    settings = _settings()
    sources = Sources.from_settings(settings)
    try:
        checks = run_checks(sources, settings)
    finally:
        sources.dispose()
    failed = print_report(checks, out)
    raise typer.Exit(1 if failed else 0)


def main() -> None:
    """Entry point of the ``infotrack`` console script."""
    try:
        app()
    except AppError as exc:
        err.print(f"[bold red]错误:[/] {exc.message}")
        sys.exit(1)
    except SQLAlchemyError as exc:  # a database down or refusing: one line, not a traceback
        from rich.markup import escape

        from infotrack.maintenance.doctor import short_reason

        err.print(f"[bold red]数据库错误:[/] {escape(short_reason(exc))}")
        err.print("运行 `infotrack doctor` 检查连接和表结构")
        sys.exit(1)
    except ValidationError as exc:  # a bad INFOTRACK_* value: say which, not a traceback
        from rich.markup import escape

        for problem in exc.errors():
            name = "INFOTRACK_" + "_".join(str(part) for part in problem["loc"]).upper()
            reason = str(problem.get("ctx", {}).get("error") or problem["msg"])
            text = reason if reason.startswith(name) else f"{name}:{reason}"
            err.print(f"[bold red]配置错误:[/] {escape(text)}")
        sys.exit(1)
