"""``infotrack anchor``: checkpoint the chain heads now; exit 1 unless they left the database."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from infotrack.audit.access_log import cli_context, record_admin_act
from infotrack.audit.anchors import create_anchor
from infotrack.audit.chain import AuditKey
from infotrack.config import get_settings
from infotrack.db import Sources
from infotrack.errors import AppError
from infotrack.logs import configure_logging


def anchor_command(
    by: Annotated[str | None, typer.Option("--by", help="执行人姓名(记入访问日志)")] = None,
) -> None:
    """Anchor the chain heads now: to the anchor file and the webhook; exit 1 if either fails."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    out, err = Console(), Console(stderr=True)
    ctx = cli_context(by)
    who = ctx.identity
    operator = f"{who.operator_id} ({by})" if by else who.operator_id
    sources = Sources.from_settings(settings)
    try:
        key = AuditKey(settings.resolved_audit_key())
        result = create_anchor(sources.wechat, settings, key, reason="on_demand", operator=operator)
        record_admin_act(
            sources.wechat,
            settings.zone,
            ctx,
            "anchor",
            {
                "anchorIds": result.anchor_ids,
                "heads": result.heads,
                "file": str(result.file),
                "fileWritten": result.file_error is None,
                "webhook": _webhook_state(result.webhook, result.webhook_error),
            },
            row_count=result.heads,
        )
    except AppError as exc:
        err.print(f"[bold red]错误:[/] {escape(exc.message)}")
        raise typer.Exit(1) from exc
    finally:
        sources.dispose()
    ids = "、".join(f"#{i}" for i in result.anchor_ids)
    out.print(f"锚点 {ids}:{result.heads} 个链头(自上一个锚点以来有变化的链)")
    if result.file_error is None:
        out.print(f"锚点文件:{escape(str(result.file))}(本次写入 {result.file_lines} 行)")
    if result.webhook and result.webhook_error is None:
        out.print(f"webhook:已送达 {result.webhook_sent} 个锚点")
    elif not result.webhook:
        out.print("webhook:未配置")
    for problem in result.problems:
        err.print(f"[bold yellow]警告:[/] {escape(problem)}")
    failure = result.failure()
    if failure:
        err.print(f"[bold red]错误:[/] {escape(failure)}")
        raise typer.Exit(1)
    if result.problems:
        err.print("[bold red]错误:[/] 发现需要核查的问题(见上方警告);请运行 `infotrack verify`")
        raise typer.Exit(1)


def _webhook_state(configured: bool, error: str | None) -> str:
    if not configured:
        return "off"
    return "failed" if error else "sent"
