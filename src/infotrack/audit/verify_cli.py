"""``infotrack verify``: check the trail's chain, ledgers and anchors; exit 1 on any problem."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infotrack.audit.access_log import cli_context
from infotrack.audit.verify import VerifyReport
from infotrack.audit.verify_service import run_verify, verify_range
from infotrack.config import get_settings
from infotrack.db import Sources
from infotrack.errors import AppError
from infotrack.logs import configure_logging

KIND_LABELS = {
    "altered": "被改动",
    "deleted": "被删除",
    "inserted": "被插入",
    "rewritten": "链被重算",
    "unknown_key": "未知密钥",
    "ledger": "台账异常",
    "anchors": "锚点异常",
}


def verify_command(
    start: Annotated[
        str | None, typer.Option("--from", help="起始时间 ISO 8601(日期即整天)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="结束时间 ISO 8601(日期即整天)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON(与 API 相同)")] = False,
    workers: Annotated[int | None, typer.Option(min=1, help="并行进程数(默认:CPU 核数)")] = None,
    by: Annotated[str | None, typer.Option("--by", help="执行人姓名(记入访问日志)")] = None,
) -> None:
    """Verify the trail: every altered, deleted or inserted row by id; exit 1 if any."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    out, err = Console(), Console(stderr=True)
    sources = Sources.from_settings(settings)
    try:
        report = run_verify(
            settings,
            sources,
            cli_context(by),
            verify_range(settings, start, end),
            workers=workers,
        )
    except AppError as exc:
        err.print(f"[bold red]错误:[/] {escape(exc.message)}")
        raise typer.Exit(1) from exc
    finally:
        sources.dispose()
    if as_json:
        typer.echo(json.dumps(report.data(), ensure_ascii=False, indent=2))
    else:
        print_report(report, out)
    raise typer.Exit(0 if report.ok else 1)


def print_report(report: VerifyReport, out: Console) -> None:
    """The outcome in a few lines, then every listed problem."""
    span = f"行 {report.min_id}–{report.max_id}" if report.min_id is not None else "无记录"
    out.print(
        f"检查了 {report.checked_rows} 行({span}):链上 {report.chained_rows} 行,"
        f"{report.chains} 条链;CRM 自行写入(不在链上){report.unchained_rows} 行;"
        f"已删除个人信息 {report.erased_rows} 行;已归档 {report.archived_rows} 行;"
        f"锚点 {report.anchors} 个,核对了 {report.anchored_heads_checked} 个链头"
    )
    if report.unchained_ids:
        more = "…" if report.unchained_rows > len(report.unchained_ids) else ""
        ids = ", ".join(str(i) for i in report.unchained_ids[:20])
        out.print(f"不在链上的行(CRM 自行写入):{ids}{more}")
    if report.ok:
        out.print("[bold green]通过:[/] 未发现篡改")
        return
    counts = ",".join(f"{KIND_LABELS.get(k, k)} {n}" for k, n in sorted(report.counts.items()))
    out.print(f"[bold red]未通过:[/] {counts}")
    table = Table("类型", "行ID", "链", "序号", "说明")
    for p in sorted(report.problems, key=lambda p: (p.row_id or 0, p.chain_id or 0)):
        table.add_row(
            KIND_LABELS.get(p.kind, p.kind),
            "" if p.row_id is None else str(p.row_id),
            "" if p.chain_id is None else str(p.chain_id),
            "" if p.seq is None else str(p.seq),
            escape(p.detail),
        )
    out.print(table)
    listed = len(report.problems)
    total = sum(report.counts.values())
    if listed < total:
        out.print(f"(共 {total} 项,列出 {listed} 项;用 --from/--to 缩小范围查看其余)")
