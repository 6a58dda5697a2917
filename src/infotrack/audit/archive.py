"""Retention: moving trail rows older than a date into an archive file, and only then out.

Which rows go is :mod:`infotrack.audit.archive_select`'s business. They are checked first
(hashes, links, erasure ledger): a tampered row is refused, never sealed into a freshly MAC'd
archive.

The order of steps is what makes "nothing is deleted if any step fails" hold: the file is
written next to its destination, forced to disk, read back and checked in full, and renamed
into place; only then does one transaction on the migration user's connection record the
archive in the ledger and delete exactly the archived ids. Any failure before that commit
removes the file and leaves every row in place.
"""

from __future__ import annotations

import contextlib
import json
import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from infotrack.audit.access_log import AccessContext, record_admin_act
from infotrack.audit.archive_file import (
    ArchiveWriter,
    erasure_entries,
    verify_archive,
)
from infotrack.audit.archive_rows import RowChecker
from infotrack.audit.archive_select import ArchiveRefused, older_rows, plan_archive, refusal
from infotrack.audit.chain import AuditKey
from infotrack.config import Settings
from infotrack.db import make_engine
from infotrack.errors import AppError
from infotrack.kit.clock import local_now
from infotrack.models.audit import ErasedRow, Erasure, TrailArchive
from infotrack.models.informationtra import informationtra

DELETE_CHUNK = 1000  # ids per DELETE … IN (…)


class ArchiveFailed(AppError):
    """A step failed; the file is removed and no row was deleted."""

    code = "archive_failed"


class ArchiveOutcomeUnknown(AppError):
    """The final commit's outcome is unknown: the file is kept for the operator to settle."""

    code = "archive_outcome_unknown"


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    """An archive made: where, and what its manifest says."""

    path: Path
    manifest: dict[str, Any]
    file_sha256: str
    warnings: list[str]  # the access log or the anchor failed: the archive itself stands


# --- how -------------------------------------------------------------------------------------
def archive_trail(
    settings: Settings, app_engine: Engine, ctx: AccessContext, before: datetime, out: Path
) -> ArchiveResult | None:
    """Archive the rows older than ``before`` into ``out`` and remove them from the live table;
    ``None`` when there is nothing to archive. Logs the act and anchors the chain heads."""
    key = AuditKey(settings.resolved_audit_key())
    out = out.absolute()
    if out.exists() or out.is_symlink():
        raise ArchiveRefused(f"{out} 已存在:归档不会覆盖已有文件,请换一个文件名")
    operator = f"{ctx.identity.name} ({ctx.identity.operator_id})"[:255]
    created_at = local_now(settings.zone)
    admin = make_engine(settings.admin_db_url, pool_size=1)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    published = False
    try:
        made = _write_checked(settings, admin, key, before, partial, operator, created_at)
        if made is None:
            return None
        manifest, ids, file_sha256, erasure_mark = made
        _publish(partial, out)
        published = True
        _commit(admin, manifest, ids, out, file_sha256, before, created_at, operator, erasure_mark)
    except ArchiveOutcomeUnknown:
        raise  # the file stays: the rows may be gone
    except BaseException:
        partial.unlink(missing_ok=True)
        if published:
            out.unlink(missing_ok=True)
        raise
    finally:
        admin.dispose()
    details = {
        "file": str(out),
        "before": manifest["before"],
        "row_count": manifest["row_count"],
        "min_id": manifest["min_id"],
        "max_id": manifest["max_id"],
    }
    return ArchiveResult(
        out, manifest, file_sha256, _aftermath(settings, app_engine, key, ctx, details, operator)
    )


def _aftermath(
    settings: Settings,
    app_engine: Engine,
    key: AuditKey,
    ctx: AccessContext,
    details: dict[str, Any],
    operator: str,
) -> list[str]:
    """Log the act and anchor the chain heads; what failed (the archive itself stands)."""
    from infotrack.audit.anchors import create_anchor
    from infotrack.maintenance.doctor import short_reason

    warnings: list[str] = []
    try:
        record_admin_act(app_engine, settings.zone, ctx, "archive", details, details["row_count"])
    except SQLAlchemyError as exc:
        warnings.append(f"未能写入访问日志({short_reason(exc)})")
    try:
        failure = create_anchor(
            app_engine, settings, key, reason="archive", operator=operator
        ).failure()
    except AppError as exc:
        failure = exc.message
    except SQLAlchemyError as exc:
        failure = f"未能生成锚点({short_reason(exc)});稍后运行 `infotrack anchor`"
    if failure:
        warnings.append(failure)
    return warnings


def _write_checked(
    settings: Settings,
    admin: Engine,
    key: AuditKey,
    before: datetime,
    partial: Path,
    operator: str,
    created_at: datetime,
) -> tuple[dict[str, Any], array[int], str, int | None] | None:
    """Select and check the rows, write them to ``partial``, read it back and check it in
    full; the manifest, the archived ids, the file's SHA-256 and the erasure ledger's last
    entry seen (``None``: no rows to archive)."""
    with admin.connect() as conn:
        plan = plan_archive(conn, key, before)
        try:
            writer = ArchiveWriter(partial)
        except OSError as exc:
            raise ArchiveFailed(
                f"无法在 {partial.parent} 创建归档文件:{exc.strerror or exc};未删除任何行"
            ) from exc
        try:
            checker = RowChecker(
                key,
                plan.erasures,
                chain_key_ids=plan.chain_key_ids,
                external_writers=settings.audit_external_writers,
            )
            ids: array[int] = array("q")
            erased_ids: list[int] = []
            for row in older_rows(admin, plan):
                if not plan.wanted(row):
                    continue
                checker.add(row)
                writer.add_row(row)
                ids.append(row["id"])
                if row["id"] in plan.erasures.current:
                    erased_ids.append(row["id"])
            spans = checker.link_chains(lambda chain_id: plan.start(key, chain_id))
            if checker.problem_count:
                raise refusal(checker)
            if not ids:
                writer.discard()
                return None
            manifest = writer.finish(
                _erasure_lines(conn, erased_ids),
                {
                    "created_at": created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    "operator": operator,
                    "before": plan.before_text,
                    "timezone": settings.timezone,
                    "row_count": len(ids),
                    "min_id": min(ids),
                    "max_id": max(ids),
                    "unchained_rows": checker.unchained,
                    "erased_rows": checker.erased,
                    "chains": {str(c): span.entry() for c, span in sorted(spans.items())},
                    "columns": plan.columns,
                },
                key,
            )
            file_sha256 = _read_back(partial, key, manifest, ids)
            return manifest, ids, file_sha256, plan.erasure_mark
        except BaseException:
            writer.discard()
            raise


def _chunks(ids: array[int] | list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _erasure_lines(conn: Connection, erased_ids: list[int]) -> list[dict[str, Any]]:
    """The erasure-ledger entries of the archived rows that were erased."""
    entries: list[Any] = []
    for chunk in _chunks(erased_ids, DELETE_CHUNK):
        entries += conn.execute(select(ErasedRow).where(ErasedRow.row_id.in_(chunk))).all()
    erasure_ids = sorted({e.erasure_id for e in entries})
    erasures: list[Any] = []
    for chunk in _chunks(erasure_ids, DELETE_CHUNK):
        erasures += conn.execute(select(Erasure).where(Erasure.id.in_(chunk))).all()
    return erasure_entries(erasures, entries)


def _read_back(path: Path, key: AuditKey, manifest: dict[str, Any], ids: array[int]) -> str:
    """Check the written file as ``archive verify`` would, and that it holds exactly the
    selected rows; its SHA-256."""
    expected = iter(ids)
    mismatched: list[int] = []

    def same_row(row: dict[str, Any]) -> None:
        if next(expected, None) != row["id"]:
            mismatched.append(row["id"])

    report = verify_archive(path, key, on_row=same_row)
    leftover = next(expected, None)
    if not report.ok or mismatched or leftover is not None or report.manifest != manifest:
        problems = ";".join(p.detail for p in report.problems[:5]) or "文件中的行与选出的行不一致"
        raise ArchiveFailed(f"写入的归档文件读回校验未通过({problems});已删除该文件,未删除任何行")
    assert report.file_sha256 is not None
    return report.file_sha256


def _publish(partial: Path, out: Path) -> None:
    """Move the checked file to ``out`` without ever replacing a file that appeared there."""
    try:
        os.link(partial, out)
    except FileExistsError:
        raise ArchiveRefused(f"{out} 已存在:归档不会覆盖已有文件;未删除任何行") from None
    except OSError:
        # No hard links on this file system: check, then rename (a narrow race, same outcome).
        if out.exists():
            raise ArchiveRefused(f"{out} 已存在:归档不会覆盖已有文件;未删除任何行") from None
        os.replace(partial, out)
    else:
        partial.unlink()
    with contextlib.suppress(OSError):  # make the new name durable where the OS allows it
        fd = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _commit(
    admin: Engine,
    manifest: dict[str, Any],
    ids: array[int],
    out: Path,
    file_sha256: str,
    before: datetime,
    created_at: datetime,
    operator: str,
    erasure_mark: int | None,
) -> None:
    """One transaction: the ledger entry, and the archived ids deleted; all or nothing."""
    values = {
        "created_at": created_at,
        "operator": operator,
        "file_name": str(out)[:500],
        "file_sha256": file_sha256,
        "before": before,
        "row_count": manifest["row_count"],
        "min_id": manifest["min_id"],
        "max_id": manifest["max_id"],
        "chains": json.dumps(manifest["chains"], sort_keys=True),
        "manifest": json.dumps(manifest, ensure_ascii=False, sort_keys=True),
        "mac": manifest["mac"],
    }
    with admin.connect() as conn:
        tx = conn.begin()
        try:
            conn.execute(insert(TrailArchive).values(values))
            deleted = 0
            for chunk in _chunks(ids, DELETE_CHUNK):
                result = conn.execute(delete(informationtra).where(informationtra.c.id.in_(chunk)))
                deleted += result.rowcount
            if deleted != len(ids):
                raise ArchiveRefused(
                    f"只有 {deleted} 行可删除(应为 {len(ids)} 行):这些行在归档期间被别人改动或"
                    "删除(另一个归档同时进行?);已撤销,未删除任何行,已删除归档文件"
                )
            # Checked after the deletes hold their rows: an erasure that got to them first
            # is committed by now, and the file would hold what it erased.
            if conn.execute(select(func.max(ErasedRow.id))).scalar() != erasure_mark:
                raise ArchiveRefused(
                    "归档期间有人执行了删除个人信息(infotrack erase);已撤销,未删除任何行,"
                    "已删除归档文件。请重新运行归档"
                )
        except SQLAlchemyError as exc:
            tx.rollback()
            raise _database_refused(exc) from exc
        except BaseException:
            tx.rollback()
            raise
        try:
            tx.commit()
        except DBAPIError as exc:
            recorded = _recorded(admin, file_sha256)
            if recorded is False:
                raise _database_refused(exc) from exc
            if recorded is None:
                raise ArchiveOutcomeUnknown(
                    f"提交时数据库连接中断,无法确认归档是否生效;归档文件 {out} 已保留。"
                    "请运行 infotrack verify:若这些行仍在库中,删除该文件后重新归档"
                ) from exc


def _recorded(admin: Engine, file_sha256: str) -> bool | None:
    """Whether the ledger holds this archive (``None``: the database does not answer)."""
    try:
        with admin.connect() as conn:
            found = conn.execute(
                select(TrailArchive.id).where(TrailArchive.file_sha256 == file_sha256)
            ).first()
    except SQLAlchemyError:
        return None
    return found is not None


def _database_refused(exc: SQLAlchemyError) -> ArchiveFailed:
    from infotrack.maintenance.doctor import short_reason

    return ArchiveFailed(
        f"数据库拒绝了归档({short_reason(exc)}):已撤销,未删除任何行,已删除归档文件。"
        "归档需要迁移用户(INFOTRACK_WECHAT_ADMIN_DB_URL)对 informationtra 的 DELETE 权限"
    )
