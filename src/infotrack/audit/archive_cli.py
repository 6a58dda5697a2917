"""``infotrack archive``: move old rows into a checked archive file; ``verify`` and ``show``
read one back."""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from infotrack.audit.access_log import AccessContext, cli_context, record_access
from infotrack.audit.archive import archive_trail
from infotrack.audit.archive_file import (
    MANIFEST,
    ROWS,
    ArchiveReport,
    ArchiveUnreadable,
    iter_lines,
    open_archive,
    read_manifest,
    verify_archive,
)
from infotrack.audit.archive_select import resolve_before
from infotrack.audit.chain import AuditKey
from infotrack.audit.ledger import archive_document
from infotrack.config import Settings, get_settings
from infotrack.db import Sources, make_engine
from infotrack.errors import AppError
from infotrack.history.schemas import parse_time
from infotrack.kit.masking import mask_phones
from infotrack.logs import configure_logging

archive_app = typer.Typer(
    help="Retention: move rows older than a date into a checked archive file, then out of the "
    "live table (`archive --before DATE --out FILE`); `verify` and `show` read an archive back."
)
out = Console()
err = Console(stderr=True)

ByOpt = Annotated[str | None, typer.Option("--by", help="执行人姓名(记入访问日志)")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]错误:[/] {escape(message)}")
    return typer.Exit(code)


def _settings() -> Settings:
    """The settings, a refused value (a retention period under 180 days…) said in one line."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        reasons = []
        for error in exc.errors():
            message = str(error.get("msg", "")).removeprefix("Value error, ")
            where = ".".join(str(part) for part in error.get("loc", ()))
            reasons.append(message if "INFOTRACK_" in message else f"{where}:{message}")
        raise _fail("配置错误:" + ";".join(reasons)) from None
    configure_logging("WARNING", settings.log_format)
    return settings


@archive_app.callback(invoke_without_command=True)
def archive(
    ctx: typer.Context,
    before: Annotated[
        str | None,
        typer.Option("--before", help="归档早于此时间的记录:本地日期或时间,如 2023-01-01"),
    ] = None,
    due: Annotated[
        bool, typer.Option("--due", help="归档超过保留期(INFOTRACK_RETENTION_DAYS)的全部记录")
    ] = False,
    dest: Annotated[
        Path | None, typer.Option("--out", help="归档文件(zip);已存在则拒绝", dir_okay=False)
    ] = None,
    by: ByOpt = None,
) -> None:
    """Archive rows older than --before (or past the retention period with --due) into --out,
    check the file, and only then delete those rows from informationtra."""
    if ctx.invoked_subcommand is not None:
        if before or due or dest or by:
            raise _fail("--before/--due/--out/--by 只用于归档本身,不能与子命令同用", 2)
        return
    if before is None and not due and dest is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    settings = _settings()
    if dest is None:
        raise _fail("请用 --out FILE 指定归档文件", 2)
    ctx_who = cli_context(by)
    sources = Sources.from_settings(settings)
    try:
        cutoff = resolve_before(settings, before, due)
        result = archive_trail(settings, sources.wechat, ctx_who, cutoff, dest)
    except AppError as exc:
        raise _fail(exc.message) from exc
    except SQLAlchemyError as exc:
        from infotrack.maintenance.doctor import short_reason

        raise _fail(f"数据库错误({short_reason(exc)}):未删除任何行") from exc
    finally:
        sources.dispose()
    if result is None:
        out.print(f"没有早于 {cutoff:%Y-%m-%d %H:%M:%S} 的可归档记录:未写入文件,未删除任何行")
        return
    m = result.manifest
    out.print(
        f"已归档 [bold]{m['row_count']}[/] 行(行ID {m['min_id']}–{m['max_id']},"
        f"操作时间早于 {m['before']})到 {escape(str(result.path))}"
    )
    out.print(
        f"链 {len(m['chains'])} 条;CRM 自行写入(不在链上){m['unchained_rows']} 行;"
        f"已删除个人信息 {m['erased_rows']} 行"
    )
    out.print(f"文件 SHA-256:{result.file_sha256}")
    out.print("文件已读回校验通过;这些行已从 informationtra 删除,归档台账已记录")
    for warning in result.warnings:
        err.print(f"[yellow]警告:[/] 归档已完成,但{escape(warning)}")
    if result.warnings:
        raise typer.Exit(1)


def _key(settings: Settings) -> AuditKey | None:
    """The audit key when one is configured (never generate one just to read an archive)."""
    stored = settings.data_dir / "audit_key"
    if settings.audit_key or settings.audit_key_file or (settings.embedded and stored.exists()):
        return AuditKey(settings.resolved_audit_key())
    return None


def _log_read(
    settings: Settings, who: AccessContext, action: str, details: dict[str, Any], rows: int
) -> bool:
    """Record the read in the access log when the database is there (archives are also read
    away from it, e.g. by an auditor with a copy of the file and the key)."""
    url = make_url(settings.wechat_db_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return False
    engine = make_engine(settings.wechat_db_url, pool_size=1)
    try:
        record_access(engine, settings.zone, who, action, details, rows)
        return True
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


FileArg = Annotated[Path, typer.Argument(help="归档文件", dir_okay=False)]


@archive_app.command("verify")
def verify(
    file: FileArg,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    by: ByOpt = None,
) -> None:
    """Check an archive file with the audit key alone; exit 1 on any problem."""
    settings = _settings()
    try:
        key = _key(settings)
    except AppError as exc:
        raise _fail(exc.message) from exc
    if key is None:
        raise _fail("校验归档需要审计密钥:请设置 INFOTRACK_AUDIT_KEY 或 INFOTRACK_AUDIT_KEY_FILE")
    report = verify_archive(file, key)
    details = {"file": str(file.absolute()), "ok": report.ok, "problems": report.problem_count}
    logged = _log_read(settings, cli_context(by), "archive_verify", details, report.rows)
    if as_json:
        typer.echo(json.dumps(_report_data(report), ensure_ascii=False, indent=2))
    else:
        _print_report(report)
    if not logged:
        err.print("[yellow]提示:[/] 未能记入访问日志(数据库不可用)")
    raise typer.Exit(0 if report.ok else 1)


def _report_data(report: ArchiveReport) -> dict[str, Any]:
    m = report.manifest or {}
    return {
        "ok": report.ok,
        "file": str(report.path),
        "fileSha256": report.file_sha256,
        "createdAt": m.get("created_at"),
        "operator": m.get("operator"),
        "before": m.get("before"),
        "rows": report.rows,
        "minId": report.min_id,
        "maxId": report.max_id,
        "chains": {str(c): s.entry() for c, s in report.chains.items()},
        "unchainedRows": report.unchained,
        "erasedRows": report.erased,
        "keyId": m.get("key_id"),
        "problemCount": report.problem_count,
        "problems": [{"rowId": p.row_id, "detail": p.detail} for p in report.problems],
    }


def _print_report(report: ArchiveReport) -> None:
    m = report.manifest or {}
    out.print(f"归档文件 {escape(str(report.path))}")
    if m:
        out.print(
            f"格式 {escape(str(m.get('format')))},生成于 {m.get('created_at')},"
            f"操作人 {escape(str(m.get('operator')))},截止 {m.get('before')}"
            f"({escape(str(m.get('timezone')))}),密钥 {escape(str(m.get('key_id')))}"
        )
    span = f"行ID {report.min_id}–{report.max_id}" if report.min_id is not None else "无记录"
    out.print(
        f"{report.rows} 行({span}):链 {len(report.chains)} 条;"
        f"CRM 自行写入(不在链上){report.unchained} 行;已删除个人信息 {report.erased} 行"
    )
    if report.file_sha256:
        out.print(f"文件 SHA-256:{report.file_sha256}")
    if report.ok:
        out.print("[bold green]通过:[/] 清单 MAC、校验和、每行的链哈希与衔接、行数和行ID范围均一致")
        return
    out.print(f"[bold red]未通过:[/] {report.problem_count} 项")
    table = Table("行ID", "说明")
    for p in report.problems:
        table.add_row("" if p.row_id is None else str(p.row_id), escape(p.detail))
    out.print(table)
    if report.problem_count > len(report.problems):
        out.print(f"(共 {report.problem_count} 项,列出 {len(report.problems)} 项)")


@archive_app.command("show")
def show(
    file: FileArg,
    start: Annotated[str | None, typer.Option("--from", help="起始时间(含),日期或时间")] = None,
    end: Annotated[str | None, typer.Option("--to", help="结束时间;日期即含当天")] = None,
    operator: Annotated[str | None, typer.Option("--operator", help="操作人姓名或操作人ID")] = None,
    user_id: Annotated[str | None, typer.Option("--user-id", help="客户ID")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="最多显示条数")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON(存储的原值)")] = False,
    unmasked: Annotated[
        bool, typer.Option("--unmasked", help="显示完整电话号码(默认打码,如 138****8000)")
    ] = False,
    by: ByOpt = None,
) -> None:
    """Print an archive's rows (oldest first), filtered; phone numbers masked unless asked."""
    settings = _settings()
    try:
        key = _key(settings)
        zone = settings.zone
        lo = parse_time(start, zone, "--from", end_of_day=False) if start else None
        hi = parse_time(end, zone, "--to", end_of_day=True) if end else None
    except AppError as exc:
        raise _fail(exc.message) from exc
    lo_text = lo.isoformat(sep=" ") if lo else None
    hi_text = hi.isoformat(sep=" ") if hi else None
    shown: list[dict[str, Any]] = []
    matched = total = 0
    digest = hashlib.sha256()
    try:
        with open_archive(file) as archive:
            manifest = read_manifest(archive)
            for line in iter_lines(archive, ROWS, digest):
                total += 1
                row = json.loads(line)
                if not isinstance(row, dict):
                    continue  # the checksum below reports the damage
                when = str(row.get("operationTime") or "")
                if lo_text and when < lo_text or hi_text and when >= hi_text:
                    continue
                if operator and operator not in (row.get("trauserName"), row.get("operator_id")):
                    continue
                if user_id and str(row.get("userId")) != user_id:
                    continue
                matched += 1
                if len(shown) < limit:
                    shown.append(row if unmasked else _masked(row))
    except ArchiveUnreadable as exc:
        raise _fail(str(exc)) from exc
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise _fail(
            f"无法读取 {file} 中的 {ROWS}:{exc};运行 infotrack archive verify 检查"
        ) from exc
    intact = _intact(manifest, digest.hexdigest(), key)
    filters: dict[str, Any] = {"file": str(file.absolute()), "from": start, "to": end}
    filters |= {"operator": operator, "userId": user_id, "unmasked": unmasked}
    _log_read(settings, cli_context(by), "archive_show", filters, len(shown))
    if as_json:
        typer.echo(json.dumps(shown, ensure_ascii=False, indent=2))
    else:
        _print_rows(shown)
        more = ",用 --limit 显示更多" if matched > len(shown) else ""
        out.print(f"显示 {len(shown)} 条,共 {matched} 条符合条件(归档共 {total} 行){more}")
    if intact is not None:
        message, altered = intact
        err.print(f"[yellow]警告:[/] {message}")
        if altered:  # shown all the same: an investigator may need to see what is there
            raise typer.Exit(1)


def _intact(
    manifest: dict[str, Any], rows_sha256: str, key: AuditKey | None
) -> tuple[str, bool] | None:
    """Why the rows shown cannot be trusted, and whether the file is known to be altered;
    ``None`` when the manifest's MAC and the rows' checksum hold (the full check is
    ``archive verify``)."""
    if key is None:
        return "未配置审计密钥,未校验归档文件的真实性", False
    if manifest.get("key_id") != key.key_id:
        return "归档由另一个审计密钥签署,未能校验其真实性", False
    if not key.check_mac(archive_document(manifest), manifest.get("mac")):
        return f"{MANIFEST} 的 MAC 不符:归档文件被改动过;运行 infotrack archive verify", True
    if manifest.get("rows_sha256") != rows_sha256:
        return f"{ROWS} 与清单的 SHA-256 不符:归档文件被改动过;运行 infotrack archive verify", True
    return None


def _masked(row: dict[str, Any]) -> dict[str, Any]:
    masked = dict(row)
    for name in ("operationEvent", "changes"):
        value = masked.get(name)
        if isinstance(value, str):
            masked[name] = mask_phones(value)
    return masked


def _print_rows(rows: list[dict[str, Any]]) -> None:
    table = Table(
        "ID", "操作时间", "操作人", "部门", "事件类型", "操作事件", "客户ID", "来源", "链"
    )
    for row in rows:
        chain = "" if row.get("chain_id") is None else f"{row['chain_id']}:{row.get('chain_seq')}"
        table.add_row(
            str(row.get("id")),
            str(row.get("operationTime") or ""),
            escape(str(row.get("trauserName") or "")),
            escape(str(row.get("tradepartment") or "")),
            escape(str(row.get("event_type") or "")),
            escape(str(row.get("operationEvent") or "")),
            escape(str(row.get("userId") or "")),
            escape(str(row.get("customer_source") or "")),
            chain or "CRM",
        )
    out.print(table)
