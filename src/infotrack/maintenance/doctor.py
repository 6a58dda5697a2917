"""``infotrack doctor``: check the set-up and say in plain words what to fix.

Each check gives ``ok``, ``warn`` (works, but something will surprise you), ``fail``
(infotrack cannot work like this) or ``info`` (worth knowing, nothing to fix). Nothing here
changes a database or raises: a check that cannot run reports why instead of a stack trace.
The one write attempted, the append-only probe, matches no row and is rolled back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.text import Text
from sqlalchemy import Inspector, inspect, select, text
from sqlalchemy import Text as TextType
from sqlalchemy.engine import Engine

from infotrack.audit.chain import AuditKey
from infotrack.audit.grants import APPEND_ONLY_TABLES, Rewrites, probe_rewrites
from infotrack.config import Settings
from infotrack.db import Sources, is_mysql, make_engine
from infotrack.errors import ConfigError
from infotrack.kit.phone import canonical_or_none
from infotrack.maintenance.schema import current_revision, find_cascade_fk, head_revision
from infotrack.models.customers import CustomerSource, customer_sources
from infotrack.models.informationtra import SEED_COLUMNS, informationtra

Status = Literal["ok", "warn", "fail", "info"]

# Phone values read per customer table: enough to see a pattern, bounded on huge tables.
SCAN_LIMIT = 200_000
_EXAMPLES = 3
_CN_MOBILE = re.compile(r"(?:\+?86)?(1\d{10})")


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    status: Status
    message: str
    fix: str | None = None


def short_reason(exc: BaseException) -> str:
    """A one-line reason for a database error (the driver's words, no stack trace)."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0][:300]
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__


def run_checks(sources: Sources, settings: Settings) -> list[Check]:
    """Every check, in the order a person would fix things."""
    checks = [_secret(settings), _audit_key(settings), _anchor_file(settings)]
    answers = {}
    for name, engine in (("wechat", sources.wechat), ("primary", sources.primary)):
        check = _connection(name, engine)
        checks.append(check)
        answers[name] = check.status == "ok"
    if answers["wechat"]:
        checks += _guarded("informationtra", _trail_checks(sources.wechat, settings))
        checks += list(_append_only_checks(sources.wechat, settings))
    for src, engine in zip(
        customer_sources(settings), (sources.wechat, sources.primary), strict=True
    ):
        if answers[src.code]:
            checks += _guarded(f"客户表 {src.table}", _customer_checks(src, engine, settings))
    return checks


def print_report(checks: list[Check], console: Console) -> bool:
    """Print the checks; True when any of them failed."""
    labels = {
        "ok": ("✓ 正常", "green"),
        "warn": ("! 警告", "yellow"),
        "fail": ("✗ 失败", "bold red"),
        "info": ("i 说明", "cyan"),
    }
    for check in checks:
        label, style = labels[check.status]
        console.print(
            Text.assemble((label, style), "  ", (check.name, "bold"), ":", check.message),
            soft_wrap=True,
        )
        if check.fix and check.status in ("warn", "fail"):
            console.print(Text.assemble("        修复:", check.fix), soft_wrap=True)
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    if failed:
        console.print(Text(f"{failed} 项失败,{warned} 项警告:请先处理失败项", "bold red"))
    elif warned:
        console.print(Text(f"没有失败项;{warned} 项警告值得处理", "yellow"))
    else:
        console.print(Text(f"全部 {len(checks)} 项检查通过", "green"))
    return failed > 0


# --- configuration and connections ----------------------------------------------------------
def _secret(settings: Settings) -> Check:
    name = "签名密钥"
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            return Check(name, "fail", "INFOTRACK_SECRET_KEY 太短(至少 32 个字符)", _NEW_KEY)
        return Check(name, "ok", "已设置 INFOTRACK_SECRET_KEY")
    if not settings.embedded:
        return Check(
            name,
            "fail",
            "使用 MySQL 时必须设置 INFOTRACK_SECRET_KEY:多台主机必须共用同一个密钥",
            _NEW_KEY + ",每台主机设置同一个值",
        )
    return Check(
        name, "ok", f"未设置;单机模式使用 {settings.data_dir / 'secret_key'} 中自动生成的密钥"
    )


_NEW_KEY = (
    'export INFOTRACK_SECRET_KEY="$(python3 -c '
    "'import secrets; print(secrets.token_urlsafe(48))')\""
)


def _audit_key(settings: Settings) -> Check:
    name = "防篡改密钥"
    generated = settings.data_dir / "audit_key"
    configured = settings.audit_key or settings.audit_key_file
    if settings.embedded and not configured and not generated.exists():
        return Check(
            name,
            "ok",
            f"未设置;单机模式首次记录时在 {generated} 自动生成(请在数据库之外另存一份:校验需要它)",
        )
    try:
        key = AuditKey(settings.resolved_audit_key())
    except (ConfigError, ValueError) as exc:  # ValueError: a key file that is not text
        reason = exc.message if isinstance(exc, ConfigError) else f"密钥文件无法读取({exc})"
        return Check(name, "fail", reason, _AUDIT_KEY_FIX)
    if settings.audit_key:
        where = "INFOTRACK_AUDIT_KEY"
    elif settings.audit_key_file:
        where = f"INFOTRACK_AUDIT_KEY_FILE({settings.audit_key_file})"
    else:
        where = f"自动生成的 {generated}"
    return Check(
        name, "ok", f"{where} 可用,密钥标识 {key.key_id};密钥不在数据库中,请在别处另存一份"
    )


_AUDIT_KEY_FIX = (
    "设置至少 32 个字符、与 INFOTRACK_SECRET_KEY 不同的 INFOTRACK_AUDIT_KEY"
    "(或 INFOTRACK_AUDIT_KEY_FILE),多台主机用同一个值;已有记录时必须用原来的密钥"
)


def _anchor_file(settings: Settings) -> Check:
    name = "锚点文件"
    path = settings.anchor_file
    problem = _unwritable(path)
    if problem:
        return Check(
            name,
            "fail",
            f"无法追加写入 {path}({problem}):链头无法锚定到数据库之外,整条链被重算时发现不了",
            "把 INFOTRACK_AUDIT_ANCHOR_FILE 设为服务账号可写的文件(最好位于数据库主机之外)",
        )
    state = "可以追加写入" if path.exists() else "尚不存在,首次锚定时创建"
    return Check(name, "ok", f"{path} {state}")


def _unwritable(path: Path) -> str | None:
    """Why the service could not append to ``path`` (creating it and its folders), or None."""
    if path.exists():
        if not path.is_file():
            return "不是普通文件"
        return None if os.access(path, os.W_OK) else "没有写权限"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} 不是目录"
    return None if os.access(folder, os.W_OK | os.X_OK) else f"目录 {folder} 没有写权限"


def _connection(name: str, engine: Engine) -> Check:
    url = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # whatever the driver raises, the answer is "does not answer"
        return Check(
            f"连接 {name}",
            "fail",
            f"无法连接 {name} 数据库 {url}({short_reason(exc)})",
            f"检查 INFOTRACK_{name.upper()}_DB_URL、数据库是否已启动、网络和账号权限",
        )
    return Check(f"连接 {name}", "ok", f"{url} 可以访问")


def _guarded(name: str, group: Iterator[Check]) -> list[Check]:
    """The checks of one group (a generator: it runs here), or one failed check saying why."""
    try:
        return list(group)
    except Exception as exc:
        return [Check(name, "fail", f"检查时出错({short_reason(exc)})", "检查数据库账号的权限")]


# --- informationtra -------------------------------------------------------------------------
def _trail_checks(engine: Engine, settings: Settings) -> Iterator[Check]:
    head, current = head_revision(), current_revision(engine)
    if current is None:
        yield Check(
            "数据库版本", "fail", "尚未初始化(没有 infotrack 的版本表)", "运行 `infotrack init`"
        )
    elif current != head:
        yield Check(
            "数据库版本",
            "fail",
            f"数据库结构版本为 {current},本程序需要 {head}",
            "运行 `infotrack init`",
        )
    else:
        yield Check("数据库版本", "ok", f"结构为最新版本({head})")

    insp = inspect(engine)
    if not insp.has_table("informationtra"):
        yield Check(
            "informationtra 表",
            "fail",
            "wechat 库中没有 informationtra 表",
            "运行 `infotrack init`",
        )
        return
    present = {col["name"].lower() for col in insp.get_columns("informationtra")}
    seed_missing = [c for c in SEED_COLUMNS if c.lower() not in present]
    ours_missing = [
        c.name
        for c in informationtra.columns
        if c.name not in SEED_COLUMNS and c.name.lower() not in present
    ]
    if seed_missing:
        yield Check(
            "informationtra 表",
            "fail",
            f"缺少种子 DDL 中的列 {', '.join(seed_missing)}",
            "按种子 DDL 补齐这些列(infotrack 不会改动 CRM 已有的列)",
        )
    elif ours_missing:
        yield Check(
            "informationtra 表",
            "fail",
            f"缺少 infotrack 添加的列 {', '.join(ours_missing)}",
            "运行 `infotrack init`(只添加可为空的列,不改动已有数据)",
        )
    else:
        yield Check("informationtra 表", "ok", "种子 DDL 的列和 infotrack 添加的列都在")
    yield _cascade_fk(engine, settings)


def _cascade_fk(engine: Engine, settings: Settings) -> Check:
    fk = find_cascade_fk(engine, settings.users_table)
    if fk is None:
        return Check("级联外键", "ok", f"informationtra 没有指向 {settings.users_table} 的外键")
    fix = (
        "确认后运行 `infotrack init --drop-cascade-fk`(只删除这个外键,不动任何数据)"
        if is_mysql(engine)
        else "SQLite 无法原地删除外键:导出 informationtra 后按无外键的结构重建"
    )
    return Check(
        "级联外键",
        "warn",
        f"informationtra.userId 上有指向 {settings.users_table} 表的外键 {fk}(种子 DDL 中的 "
        f"ON DELETE CASCADE)。只存在于 contacts 表(另一个数据库)的客户永远满足不了它,"
        "所以这些客户无法记录(接口回答 409 cascade_fk_blocks_contact);"
        f"而删除 {settings.users_table} 中的客户会连带删除他的全部操作记录,审计轨迹就没了",
        fix,
    )


# --- append-only ---------------------------------------------------------------------------
def _append_only_checks(engine: Engine, settings: Settings) -> Iterator[Check]:
    """Whether the application account can rewrite the trail: tried, not read from grants."""
    name = "只追加"
    if engine.dialect.name == "sqlite":
        yield Check(
            name,
            "info",
            "SQLite 没有数据库账号:谁能改写 informationtra 由数据库文件的权限决定(只让运行 "
            "infotrack 的系统账号可写);改写会被防篡改链发现(`infotrack verify`)。"
            "要由数据库禁止改写,请使用 MySQL/MariaDB 并运行 `infotrack grants`",
        )
        return
    insp = inspect(engine)
    try:
        found = [probe_rewrites(engine, t) for t in APPEND_ONLY_TABLES if insp.has_table(t)]
    except Exception as exc:  # neither allowed nor refused for lack of privilege: unknown
        yield Check(
            name,
            "warn",
            f"无法确认应用账号能否改写操作记录({short_reason(exc)})",
            "用应用账号手工执行 UPDATE informationtra SET id = id WHERE 1 = 0,应被拒绝",
        )
        return
    if not found:
        return  # not initialised: the trail checks already say so
    who = engine.url.username or "(默认账号)"
    loose = [r for r in found if r.possible]
    if loose:
        yield Check(
            name,
            "warn",
            f"应用账号 {who} 可以 {';'.join(_describe(r) for r in loose)}:拿到这个账号密码的人"
            "能直接改写操作记录或访问日志(防篡改链会发现,但数据库不会阻止)",
            "运行 `infotrack grants`,以 root 执行它打印的语句,再把 INFOTRACK_WECHAT_DB_URL "
            "换成其中的应用账号(init、archive、erase 使用 INFOTRACK_WECHAT_ADMIN_DB_URL)",
        )
    else:
        tables = "、".join(r.table for r in found)
        yield Check(
            name,
            "ok",
            f"数据库拒绝应用账号 {who} 对 {tables} 的 UPDATE 和 DELETE:只追加由数据库强制执行",
        )
    if settings.wechat_admin_db_url or not loose:
        yield _migration_account(settings)


def _describe(rewrites: Rewrites) -> str:
    parts = []
    if rewrites.all_columns:
        parts.append(f"UPDATE {rewrites.table}")
    elif rewrites.updatable:
        parts.append(f"UPDATE {rewrites.table} 的列 {'、'.join(rewrites.updatable)}")
    if rewrites.deletable:
        parts.append(f"DELETE {rewrites.table}")
    return "、".join(parts)


def _migration_account(settings: Settings) -> Check:
    name = "迁移账号"
    if not settings.wechat_admin_db_url:
        return Check(
            name,
            "info",
            "未设置 INFOTRACK_WECHAT_ADMIN_DB_URL:服务不需要它;运行 `infotrack init`、archive、"
            "erase 时请在那个环境里设置迁移账号的地址(应用账号没有建表和改写记录的权限)",
        )
    engine = make_engine(settings.wechat_admin_db_url, pool_size=1)
    url = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # whatever the driver raises, the answer is "does not answer"
        return Check(
            name,
            "fail",
            f"无法用 INFOTRACK_WECHAT_ADMIN_DB_URL 连接 {url}({short_reason(exc)})",
            "检查迁移账号的地址和密码(`infotrack grants` 打印的 INFOTRACK_WECHAT_ADMIN_DB_URL)",
        )
    finally:
        engine.dispose()
    return Check(name, "ok", f"INFOTRACK_WECHAT_ADMIN_DB_URL({url})可以连接")


# --- customer tables ------------------------------------------------------------------------
def _customer_checks(src: CustomerSource, engine: Engine, settings: Settings) -> Iterator[Check]:
    env = "INFOTRACK_USERS" if src.code == "wechat" else "INFOTRACK_CONTACTS"
    insp = inspect(engine)
    if not insp.has_table(src.table):
        yield Check(
            f"客户表 {src.table}",
            "fail",
            f"{src.code} 库中没有 {src.table} 表",
            f"全新安装请运行 `infotrack init`;CRM 的客户表另有名字时设置 {env}_TABLE",
        )
        return
    columns = {col["name"]: col for col in insp.get_columns(src.table)}
    missing = [c for c in (src.id_column, src.phone_column) if c not in columns]
    if missing:
        yield Check(
            f"客户表 {src.table}",
            "fail",
            f"{src.table} 表缺少列 {', '.join(missing)}",
            f"设置 {env}_ID_COLUMN / {env}_PHONE_COLUMN 为 CRM 实际使用的列名",
        )
        return
    yield Check(
        f"客户表 {src.table}", "ok", f"{src.table}({src.id_column}, {src.phone_column})存在"
    )
    yield _phone_index(src, engine, insp, isinstance(columns[src.phone_column]["type"], TextType))
    yield _phone_spellings(src, engine, settings.default_region)


def _phone_index(src: CustomerSource, engine: Engine, insp: Inspector, is_text: bool) -> Check:
    name = f"号码索引 {src.table}"
    wanted = src.phone_column.lower()
    leading: list[Sequence[str | None]] = [
        ix["column_names"][:1] for ix in insp.get_indexes(src.table)
    ]
    leading += [uq["column_names"][:1] for uq in insp.get_unique_constraints(src.table)]
    leading.append(insp.get_pk_constraint(src.table)["constrained_columns"][:1])
    if any(cols and cols[0] and cols[0].lower() == wanted for cols in leading):
        return Check(name, "ok", f"{src.table}.{src.phone_column} 有索引")
    quote = engine.dialect.identifier_preparer.quote
    prefix = "(32)" if is_text and is_mysql(engine) else ""  # MySQL indexes TEXT by prefix only
    statement = (
        f"CREATE INDEX {quote(f'idx_{src.table}_{src.phone_column}'[:64])} "
        f"ON {quote(src.table)} ({quote(src.phone_column)}{prefix});"
    )
    return Check(
        name,
        "warn",
        f"{src.table}.{src.phone_column} 没有以它开头的索引:每次按号码查客户都要扫描整张表",
        f"在 {src.code} 库中执行:{statement}",
    )


def _phone_spellings(src: CustomerSource, engine: Engine, region: str) -> Check:
    """Count stored numbers a lookup cannot match: other spellings, and no number at all."""
    col = src.lookup_table().c[src.phone_column]
    odd: list[str] = []
    invalid: list[str] = []
    scanned = 0
    with engine.connect() as conn:
        query = select(col).where(col.is_not(None)).limit(SCAN_LIMIT)
        for (value,) in conn.execute(query.execution_options(yield_per=5000)):
            scanned += 1
            stored = str(value)
            if not stored.strip():
                continue
            verdict = _classify(stored, region)
            if verdict != "ok":
                (odd if verdict == "odd" else invalid).append(stored)
    name = f"号码写法 {src.table}"
    where = f"(只检查了前 {SCAN_LIMIT} 行)" if scanned >= SCAN_LIMIT else f"(检查了 {scanned} 行)"
    if not odd and not invalid:
        return Check(name, "ok", f"号码都是可匹配的写法{where}")
    parts = []
    if odd:
        parts.append(
            f"{len(odd)} 个号码的写法无法匹配(如 {_examples(odd)}),按号码记录这些客户会回答 404"
        )
    if invalid:
        parts.append(f"{len(invalid)} 个值不是有效号码(如 {_examples(invalid)})")
    return Check(
        name,
        "warn",
        f"{src.table}.{src.phone_column} 中有 " + ";".join(parts) + where,
        "在 CRM 中把号码改为 13800138000、+8613800138000 或 8613800138000 这类写法,"
        "并核对无效的值(infotrack 不会改写 CRM 的客户表)",
    )


def _classify(stored: str, region: str) -> Literal["ok", "odd", "invalid"]:
    """``ok`` when a lookup matches this spelling as stored, ``odd`` for another spelling."""
    mobile = _CN_MOBILE.fullmatch(stored) if region == "CN" else None
    if mobile:  # the common case, without a parse per row
        return "ok" if _mobile_block_valid(mobile.group(1)[:7]) else "invalid"
    phone = canonical_or_none(stored, region)
    if phone is None:
        return "invalid"
    return "ok" if stored in phone.stored_forms else "odd"


@lru_cache(maxsize=4096)
def _mobile_block_valid(prefix: str) -> bool:
    # libphonenumber decides mainland mobile validity on the leading digits only.
    return canonical_or_none(prefix + "0000", "CN") is not None


def _examples(values: list[str]) -> str:
    return "、".join(_mask(v) for v in list(dict.fromkeys(values))[:_EXAMPLES])


def _mask(stored: str) -> str:
    """Hide the middle digits, keeping the spelling: ``138-0013-8000`` -> ``138-****-8000``."""
    stored = stored[:24]
    digits = [i for i, ch in enumerate(stored) if ch.isdigit()]
    keep_head, keep_tail = (3, 4) if len(digits) >= 8 else (1, 1)
    hidden = set(digits[keep_head : max(keep_head, len(digits) - keep_tail)])
    return "'" + "".join("*" if i in hidden else ch for i, ch in enumerate(stored)) + "'"
