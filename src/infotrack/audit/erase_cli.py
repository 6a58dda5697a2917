"""``infotrack erase``: pseudonymise one customer's phone numbers in the trail (PIPL art. 47).

Shows what would change, asks (unless ``--yes``), then erases in one transaction on the
migration user's connection. ``--dry-run`` stops after showing. Never prints a full number.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine

from infotrack.audit.access_log import cli_context
from infotrack.audit.chain import AuditKey
from infotrack.audit.erase import (
    PSEUDONYM,
    ErasurePlan,
    archives,
    preview_erasure,
    refusal,
    run_erasure,
)
from infotrack.audit.erase_subject import ErasureSubject, resolve_subject
from infotrack.config import get_settings
from infotrack.db import Sources, make_engine
from infotrack.errors import AppError
from infotrack.logs import configure_logging

MAX_ARCHIVES_LISTED = 20


def erase_command(
    phone: Annotated[str | None, typer.Option("--phone", help="客户电话(任意写法)")] = None,
    customer: Annotated[
        str | None, typer.Option("--customer", help="客户:来源:客户ID,如 wechat:u1、primary:42")
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="删除原因,如 客户依《个人信息保护法》申请删除")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="执行人姓名(记入台账和访问日志)")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="只显示将修改多少行,不写入任何内容")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="不再询问确认")] = False,
) -> None:
    """Erase a customer's phone numbers from the trail; the chain stays verifiable."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    out, err = Console(), Console(stderr=True)
    sources = Sources.from_settings(settings)
    admin = make_engine(settings.admin_db_url, pool_size=1)
    try:
        key = AuditKey(settings.resolved_audit_key())
        subject = resolve_subject(settings, sources, phone=phone, customer=customer)
        plan = preview_erasure(admin, key, subject)
        describe(out, err, subject, plan)
        if plan.blocked:
            raise refusal(plan)
        if dry_run:
            out.print("演练(--dry-run):未写入任何内容")
            warn_archives(err, admin)
            return
        if not yes and not typer.confirm("确认删除以上个人信息?删除后无法恢复"):
            raise typer.Exit(1)
        outcome = run_erasure(settings, sources, admin, subject, cli_context(by), reason)
        pseudonym = PSEUDONYM.format(id=outcome.erasure_id)
        out.print(
            f"已完成删除 E{outcome.erasure_id}:修改 {len(outcome.plan.changes)} 行"
            f"({_counts(outcome.plan)}),号码替换为 {escape(pseudonym)};"
            "已记入删除台账和访问日志,链仍可校验(infotrack verify)"
        )
        warn_archives(err, admin)
    except AppError as exc:
        err.print(f"[bold red]错误:[/] {escape(exc.message)}")
        raise typer.Exit(1) from exc
    finally:
        admin.dispose()
        sources.dispose()


def describe(out: Console, err: Console, subject: ErasureSubject, plan: ErasurePlan) -> None:
    """The subject (masked) and what the erasure would change."""
    numbers = ", ".join(p.masked() for p in subject.phones)
    customers = ", ".join(f"{s}:{i}" for s, i in subject.customers) or "无(CRM 中已不存在)"
    out.print(f"号码:{numbers};CRM 中的客户:{escape(subject.masked(customers))}")
    if subject.unusable:
        err.print(
            f"[yellow]警告:[/] CRM 中该客户的号码 {', '.join(subject.unusable)} 无法识别,"
            "未处理;如需删除请用 --phone 指定"
        )
    out.print(f"将修改 {len(plan.changes)} 行({_counts(plan)})")


def warn_archives(err: Console, admin: Engine) -> None:
    """Archives made earlier still hold what they held: say which, so they are dealt with."""
    notes = archives(admin)
    if not notes:
        return
    err.print(
        f"[yellow]警告:[/] 之前生成的 {len(notes)} 个归档可能仍含该客户的号码"
        "(归档已签名,无法就地改写;请按归档保管制度处理):"
    )
    for note in notes[:MAX_ARCHIVES_LISTED]:
        err.print(
            f"  #{note.id} {escape(note.file_name)}:{note.row_count} 行,"
            f"{str(note.before)[:10]} 之前的记录,生成于 {str(note.created_at)[:19]}"
        )
    if len(notes) > MAX_ARCHIVES_LISTED:
        err.print(f"  …… 共 {len(notes)} 个")


def _counts(plan: ErasurePlan) -> str:
    return ",".join(f"{name} {n} 行" for name, n in plan.column_counts().items())
