"""``infotrack alerts``: run the worker, or check a rules file before deploying it."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infotrack.alerts.rules import RulesError, load_rules
from infotrack.alerts.types import KIND_LABELS, SEVERITY_LABELS
from infotrack.config import get_settings
from infotrack.db import Sources
from infotrack.logs import configure_logging

if TYPE_CHECKING:
    from infotrack.alerts.worker import AlertWorker

alerts_app = typer.Typer(help="Alerts on anomalous operations.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _refuse(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]错误:[/] {escape(message)}")
    return typer.Exit(code)


@alerts_app.command("run")
def run(
    once: Annotated[
        bool, typer.Option("--once", help="Evaluate what is new, send, and exit (for cron).")
    ] = False,
) -> None:
    """Evaluate the rules continuously (one active worker across hosts, by a DB lease)."""
    from infotrack.alerts.worker import AlertWorker  # the worker's imports only when run

    settings = get_settings()
    configure_logging(settings.log_level if not once else "WARNING", settings.log_format)
    sources = Sources.from_settings(settings)
    try:
        try:
            worker = AlertWorker(settings, sources.wechat)
        except RulesError as exc:
            raise _refuse(exc.message) from exc
        if once:
            _run_once(worker, sources)
            return

        def stop(_sig: int, _frame: FrameType | None) -> None:
            worker.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        out.print(f"告警进程已启动,规则来自 {escape(worker.ruleset.source)}(Ctrl+C 停止)")
        worker.run_forever()
    finally:
        sources.dispose()


def _run_once(worker: AlertWorker, sources: Sources) -> None:
    from infotrack.alerts.lease import LeaseLost, lease_expiry
    from infotrack.alerts.worker import LEASE_NAME

    try:
        total = worker.run_once()
    except LeaseLost as exc:
        holder, until = lease_expiry(sources.wechat, LEASE_NAME)
        raise _refuse(f"另一个告警进程正在运行({holder},租约到 {until} UTC),本次不评估", 2) from exc
    counts = worker.dispatcher.counts
    out.print(
        f"已评估 {total.rows} 条新记录,产生 {total.alerts} 条告警;"
        f"通知 已发送 {counts.sent}、待重试 {counts.retrying}、失败 {counts.failed}"
    )


@alerts_app.command("check")
def check(
    file: Annotated[
        Path | None,
        typer.Argument(help="Rules file (default: INFOTRACK_ALERT_RULES_FILE, else built-in)."),
    ] = None,
) -> None:
    """Validate a rules file and show what it configures."""
    settings = get_settings()
    try:
        ruleset = load_rules(file or settings.alert_rules_file)
    except RulesError as exc:
        raise _refuse(exc.message) from exc
    table = Table(title=f"告警规则({escape(ruleset.source)})")
    for column in ("名称", "类型", "事件类型", "阈值", "窗口", "级别", "冷却", "通知渠道"):
        table.add_column(column)
    for rule in ruleset.rules:
        table.add_row(
            rule.name,
            KIND_LABELS[rule.kind],
            ", ".join(sorted(rule.event_types)) if rule.event_types else "全部",
            f"> {rule.threshold}",
            str(rule.window),
            SEVERITY_LABELS[rule.severity],
            str(rule.cooldown),
            ", ".join(rule.channels) or "—",
        )
    out.print(table)
    for channel in ruleset.channels.values():
        scope = ", ".join(sorted(channel.departments)) or "全部部门"
        out.print(f"渠道 {escape(channel.name)}: {channel.kind}({escape(scope)})")
    hours = ruleset.working_hours
    out.print(
        f"工作时间 {hours.start:%H:%M}–{hours.end:%H:%M},"
        f"工作日 {','.join(str(d) for d in sorted(hours.weekdays))},"
        f"节假日 {len(hours.holidays)} 天,调休上班 {len(hours.workdays)} 天"
    )
    out.print("规则文件有效")
