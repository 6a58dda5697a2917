"""``infotrack demo``: a believable, reproducible data set for a Chinese SME sales team.

What it loads (a fixed random seed, so every run builds the same set):

- 80 WeChat customers in ``users`` (``wx_000001`` …), phones stored mostly as ``13800138000``,
  some as ``+8613800138000`` or ``8613800138000``. ``wx_000001`` has the seed's example number
  13800138000; ``wx_000002`` and ``wx_000041`` share one number (ambiguous: the lowest id is
  recorded).
- 50 customers in ``contacts`` (ids 1001 …) with their companies; contact 1001 has the same
  number as ``wx_000003`` (wechat wins, as in the seed's lookup order).
- Accounts of 华东贸易有限公司 over 销售一部 and 销售二部 (业务员, 经理, 管理员, 审计,
  系统管理员, one sales-side account), all with the password ``demo1234``.
- ``events`` operation records over the last ``days`` days, mostly in working hours, their ids
  in time order like live ones. MySQL/MariaDB: appended through
  :class:`~infotrack.tracking.recorder.Recorder`, one transaction per 5 000. SQLite: one
  transaction straight through the driver; a load at least as large as the table also drops
  the table's declared indexes and builds them again from the same declarations (see
  ``maintenance/sqlite_bulk.py``; figures in ``benchmarks/README.md``).

Idempotent: customers and accounts that exist already are skipped. Events carry the request
ids ``demo-000001`` … ``demo-<events>``; ids present already are skipped, so a second run with
the same ``--events`` adds nothing and a run with a larger count adds only the difference
(spread over the window ending now). An interrupted load is simply run again: on SQLite it left
nothing behind (indexes included), on MySQL it left whole chunks.

Refuses a database that holds customers or records but no demo data: fake customers and fake
trail rows must never mix into a real CRM's audit trail.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import json
import random
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, insert, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import column, table

from infotrack.audit.chain import CHAIN_COLUMNS, AuditKey, seal
from infotrack.audit.writer_chain import WriterChain
from infotrack.auth.service import AccountFields, add_account
from infotrack.config import Settings
from infotrack.db import Sources, session_scope
from infotrack.errors import AppError, ConfigError, ServiceUnavailable
from infotrack.kit.clock import local_now
from infotrack.kit.phone import parse_phone
from infotrack.maintenance.doctor import short_reason
from infotrack.maintenance.schema import current_revision, find_cascade_fk, head_revision
from infotrack.maintenance.sqlite_bulk import load_rows
from infotrack.models import Account, informationtra
from infotrack.models.customers import CustomerSource, customer_sources
from infotrack.tracking.events import EVENT_LABELS, EventType
from infotrack.tracking.recorder import Operator, RecordDraft, Recorder

T = TypeVar("T")

DEMO_PASSWORD = "demo1234"
DEMO_COMPANY = "华东贸易有限公司"
DEMO_ORGANIZATION = "华东大区"
REQUEST_PREFIX = "demo-"
WECHAT_CUSTOMERS = 80
PRIMARY_CUSTOMERS = 50
FIRST_CONTACT_ID = 1001
SEED = 20261127
CHUNK = 5000


@dataclass(frozen=True)
class DemoAccount:
    """One demo operator; ``weight`` is its share of the generated events."""

    username: str
    name: str
    department: str
    role: str
    assistant: str | None = None
    side: str = "supply"
    weight: float = 0.0


ACCOUNTS = (
    DemoAccount("sales1", "张伟", "销售一部", "业务员", "李娜", weight=1.0),
    DemoAccount("sales2", "王芳", "销售一部", "业务员", "李娜", weight=1.0),
    DemoAccount("sales3", "刘洋", "销售二部", "业务员", "陈晨", weight=1.0),
    DemoAccount("sales4", "赵敏", "销售二部", "业务员", "陈晨", weight=0.8),
    DemoAccount("salesside", "黄磊", "销售二部", "业务员", side="sales", weight=0.7),
    DemoAccount("manager1", "陈静", "销售一部", "经理", weight=0.3),
    DemoAccount("manager2", "杨帆", "销售二部", "经理", weight=0.3),
    DemoAccount("admin", "孙丽", "总经办", "管理员", weight=0.05),
    DemoAccount("auditor", "吴婷", "审计部", "审计"),
    DemoAccount("sysadmin", "郑浩", "信息部", "系统管理员"),
)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余杜叶"
_GIVEN = (
    "伟 芳 娜 秀英 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞 平 刚 桂英 建华 文 华 鑫 宇 "
    "浩 婷 欣怡 子涵 思远 晓东 海燕 志强 春梅 建国 雪 琳 晨 博文 佳怡 俊杰 雨桐 一鸣 国栋 慧敏"
).split()
_CITIES = "上海 杭州 苏州 南京 宁波 无锡 合肥 常州 嘉兴 绍兴 温州 南通".split()
_BRANDS = "恒信 瑞丰 华鑫 宏达 鼎盛 永康 天成 锦程 金桥 博远 新航 嘉禾 正和 汇通 启明 安捷".split()
_TRADES = "电子科技 机械设备 纺织 建材 食品 物流 化工 包装材料 五金制品 医疗器械 汽车配件".split()
# Mainland mobile prefixes, weighted roughly by how common they are (19x included).
_PREFIXES = {
    **dict.fromkeys("130 131 132 133 134 135 136 137 138 139".split(), 3.0),
    **dict.fromkeys("150 151 152 153 155 156 157 158 159".split(), 2.0),
    **dict.fromkeys("180 181 182 183 184 185 186 187 188 189".split(), 2.0),
    **dict.fromkeys("166 173 175 176 177 178".split(), 1.0),
    **dict.fromkeys("191 193 195 198 199".split(), 1.0),
}
# (event type, weight) per kind of operator: ~55 % views, 20 % follow-ups, 15 % edits overall.
_REP_MIX = (
    (EventType.VIEW_DETAIL, 55),
    (EventType.FOLLOW_UP, 21),
    (EventType.EDIT, 15),
    (EventType.CALL, 6),
    (EventType.OTHER, 3),
)
_LEAD_MIX = (
    (EventType.VIEW_DETAIL, 62),
    (EventType.FOLLOW_UP, 14),
    (EventType.EDIT, 12),
    (EventType.EXPORT, 6),
    (EventType.OTHER, 6),
)
_OTHER_TEXTS = ("发送报价单", "添加企业微信好友", "预约上门拜访", "发送产品资料", "申请样品")
_EDIT_FIELDS = {
    "客户等级": ("A", "B", "C", "D"),
    "跟进状态": ("初次接触", "需求确认", "方案报价", "商务谈判", "已成交", "暂缓"),
    "意向产品": ("工业传感器", "PLC 控制柜", "伺服电机", "变频器", "配件耗材"),
    "预计金额": ("5万", "12万", "30万", "80万", "150万"),
}
# Working hours with a lunch dip; evenings are rare.
_HOURS = {9: 8, 10: 12, 11: 11, 12: 4, 13: 6, 14: 11, 15: 12, 16: 11, 17: 7, 19: 2, 20: 2, 21: 1}


@dataclass(frozen=True)
class DemoCustomer:
    """A customer as the demo stores it (``phone`` is the stored spelling)."""

    source: str  # "wechat" | "primary"
    id: str
    phone: str
    name: str
    company: str | None
    created_at: datetime


def load_demo(sources: Sources, settings: Settings, *, events: int, days: int) -> str:
    """Load the demo data set (idempotent, see the module docstring); a short summary."""
    users_src, contacts_src = customer_sources(settings)
    try:
        _require_schema(sources, users_src, contacts_src)
        users, contacts = _customers(local_now(settings.zone))
        _refuse_real_data(sources, users_src, contacts_src, users, contacts)
        accounts = _ensure_accounts(sources, settings)  # first: it may refuse a name clash
        new_users = _insert_customers(sources.wechat, users_src, users)
        new_contacts = _insert_customers(sources.primary, contacts_src, contacts)
        fk = find_cascade_fk(sources.wechat, settings.users_table)
        targets = _targets(users, contacts, settings.default_region, primary_ok=fk is None)
        written, total = _append_events(sources, settings, accounts, targets, events, days)
    except SQLAlchemyError as exc:
        raise ServiceUnavailable(f"载入演示数据时数据库出错:{short_reason(exc)}") from exc
    region = settings.default_region
    only_contact = contacts[1]  # numbers are unique apart from the two planted cases

    def national(customer: DemoCustomer) -> str:
        return parse_phone(customer.phone, region).national

    lines = [
        "演示数据已就绪 / demo data loaded",
        f"  客户: {users_src.table}(wechat){len(users)} 个,新增 {new_users};"
        f"{contacts_src.table}(primary){len(contacts)} 个,新增 {new_contacts}",
        f"  操作记录: 新增 {written} 条,演示记录共 {total} 条(过去 {days} 天)",
        "  可以试的号码:",
        f"    {national(users[0])}  -> {users[0].id}",
        f"    {national(users[1])}  -> {users[1].id} 与 {users[40].id} 共用(记录较小的 id)",
        f"    {national(users[2])}  -> {users[2].id},也是 contacts {contacts[0].id}(wechat 优先)",
        f"    {national(only_contact)}  -> 只在 contacts 中:{only_contact.id}",
    ]
    if fk:
        lines.append(f"  注意: informationtra 仍有级联外键 {fk},contacts 客户无法记录")
    lines.append(f"  演示账号({DEMO_COMPANY},密码均为 {DEMO_PASSWORD}):")
    for spec in ACCOUNTS:
        side = "销售端" if spec.side == "sales" else "供应端"
        lines.append(f"    {spec.username:<10} {spec.name}  {spec.department}  {spec.role}  {side}")
    lines.append(f"  下一步: infotrack serve,然后用 sales1 / {DEMO_PASSWORD} 登录")
    return "\n".join(lines)


# --- checks ---------------------------------------------------------------------------------
def _require_schema(sources: Sources, *customer_srcs: CustomerSource) -> None:
    if current_revision(sources.wechat) != head_revision():
        raise ConfigError("数据库尚未初始化或结构不是最新版本:请先运行 `infotrack init`")
    for src, engine in zip(customer_srcs, (sources.wechat, sources.primary), strict=True):
        insp = inspect(engine)
        if not insp.has_table(src.table):
            raise ConfigError(f"{src.code} 库中没有客户表 {src.table}:请先运行 `infotrack init`")
        columns = {col["name"] for col in insp.get_columns(src.table)}
        missing = [c for c in (src.id_column, src.phone_column) if c not in columns]
        if missing:
            raise ConfigError(f"客户表 {src.table} 缺少列 {', '.join(missing)}:请检查配置")


def _refuse_real_data(
    sources: Sources,
    users_src: CustomerSource,
    contacts_src: CustomerSource,
    users: Sequence[DemoCustomer],
    contacts: Sequence[DemoCustomer],
) -> None:
    """A database without demo customers must be empty: never mix fakes into a real trail."""
    if _existing_ids(sources.wechat, users_src, users) or _existing_ids(
        sources.primary, contacts_src, contacts
    ):
        return
    counts = {
        users_src.table: _count(sources.wechat, users_src.lookup_table()),
        contacts_src.table: _count(sources.primary, contacts_src.lookup_table()),
        "informationtra": _count(sources.wechat, informationtra),
    }
    found = ",".join(f"{name} 表 {n} 行" for name, n in counts.items() if n)
    if found:
        raise ConfigError(
            f"数据库中已有真实数据({found}),演示数据只能载入新建的空数据库,"
            "以免假客户和假操作记录混入真实的审计轨迹。请为演示另建数据库(例如默认的 SQLite)"
        )


def _count(engine: Engine, tbl: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tbl)).scalar_one())


# --- customers ------------------------------------------------------------------------------
def _customers(now: datetime) -> tuple[list[DemoCustomer], list[DemoCustomer]]:
    """The demo customers of both sources, the same on every run."""
    rng = random.Random(SEED)
    taken = {"13800138000"}
    numbers = ["13800138000"] + [_mobile(rng, taken) for _ in range(WECHAT_CUSTOMERS - 1)]
    numbers[40] = numbers[1]  # two WeChat customers share one number
    users = []
    for index, number in enumerate(numbers):
        stored = "+86" + number if index == 40 else _stored(rng, number)
        if index == 0:
            stored = number
        company = _company(rng) if rng.random() < 0.5 else None
        users.append(
            DemoCustomer(
                "wechat", f"wx_{index + 1:06d}", stored, _nickname(rng), company, _since(rng, now)
            )
        )
    contacts = []
    for index in range(PRIMARY_CUSTOMERS):
        # The first contact is also a WeChat customer, stored in another spelling.
        stored = "86" + numbers[2] if index == 0 else _stored(rng, _mobile(rng, taken))
        contacts.append(
            DemoCustomer(
                "primary",
                str(FIRST_CONTACT_ID + index),
                stored,
                _person(rng),
                _company(rng),
                _since(rng, now),
            )
        )
    return users, contacts


def _mobile(rng: random.Random, taken: set[str]) -> str:
    prefixes, weights = list(_PREFIXES), list(_PREFIXES.values())
    while True:
        number = rng.choices(prefixes, weights)[0] + f"{rng.randrange(10**8):08d}"
        if number not in taken:
            taken.add(number)
            return number


def _stored(rng: random.Random, number: str) -> str:
    """Mostly ``13800138000``, some ``+8613800138000``, a few ``8613800138000``."""
    roll = rng.random()
    return number if roll < 0.75 else "+86" + number if roll < 0.9 else "86" + number


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN)


def _nickname(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.75:
        return _person(rng)
    return rng.choice(_SURNAMES) + ("总" if roll < 0.9 else "经理")


def _company(rng: random.Random) -> str:
    return rng.choice(_CITIES) + rng.choice(_BRANDS) + rng.choice(_TRADES) + "有限公司"


def _since(rng: random.Random, now: datetime) -> datetime:
    return (now - timedelta(days=rng.randint(30, 720), minutes=rng.randint(0, 1439))).replace(
        second=0
    )


def _existing_ids(
    engine: Engine, src: CustomerSource, customers: Sequence[DemoCustomer]
) -> set[str]:
    tbl = src.lookup_table()
    id_col = tbl.c[src.id_column]
    with engine.connect() as conn:
        rows = conn.execute(select(id_col).where(id_col.in_([c.id for c in customers])))
        return {str(row[0]) for row in rows}


def _insert_customers(
    engine: Engine, src: CustomerSource, customers: Sequence[DemoCustomer]
) -> int:
    """Insert the customers not there yet, filling only the columns the table has."""
    present = {col["name"] for col in inspect(engine).get_columns(src.table)}
    existing = _existing_ids(engine, src, customers)
    optional = [name for name in (src.name_column, "company", "created_at") if name in present]
    tbl = table(src.table, *(column(name) for name in (src.id_column, src.phone_column, *optional)))
    rows = []
    for customer in customers:
        if customer.id in existing:
            continue
        # Integer ids for contacts (their usual type); the database converts for text columns.
        row: dict[str, Any] = {
            src.id_column: customer.id if src.code == "wechat" else int(customer.id),
            src.phone_column: customer.phone,
        }
        values = {
            src.name_column: customer.name,
            "company": customer.company,
            "created_at": customer.created_at,
        }
        row.update({name: values[name] for name in optional})
        rows.append(row)
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(tbl), rows)
    return len(rows)


def _targets(
    users: Sequence[DemoCustomer],
    contacts: Sequence[DemoCustomer],
    region: str,
    *,
    primary_ok: bool,
) -> list[DemoCustomer]:
    """The customers a lookup by phone finds (the resolver's rules: wechat first, lowest id)."""
    found: dict[str, DemoCustomer] = {}
    for customer in sorted(users, key=lambda c: c.id) + (list(contacts) if primary_ok else []):
        found.setdefault(parse_phone(customer.phone, region).e164, customer)
    return list(found.values())


# --- accounts -------------------------------------------------------------------------------
def _ensure_accounts(sources: Sources, settings: Settings) -> dict[str, Account]:
    """The demo accounts by username, creating the missing ones."""
    with session_scope(sources.wechat) as session:
        wanted = [spec.username for spec in ACCOUNTS]
        existing = {
            a.username: a
            for a in session.scalars(select(Account).where(Account.username.in_(wanted)))
        }
        for spec in ACCOUNTS:
            account = existing.get(spec.username)
            if account is not None:
                if (account.company, account.name) != (DEMO_COMPANY, spec.name):
                    raise ConfigError(
                        f"账号 {spec.username} 已存在且不是演示账号:请为演示另建数据库"
                    )
                continue
            fields = AccountFields(
                company=DEMO_COMPANY,
                department=spec.department,
                organization=DEMO_ORGANIZATION,
                role=spec.role,
                name=spec.name,
                assistant=spec.assistant,
                side=spec.side,
            )
            existing[spec.username] = add_account(
                session, spec.username, DEMO_PASSWORD, fields, settings.zone
            )
        return existing


# --- events ---------------------------------------------------------------------------------
# The accounts that generate events (index = the actor in an event).
_ACTORS = tuple(spec for spec in ACCOUNTS if spec.weight > 0)
# One generated event: (seconds since midnight of the window's first day, actor, customer,
# event type, text, changes JSON, request id). Sorting by the first item sorts by time.
_Event = tuple[int, int, DemoCustomer, str, str, str | None, str]

# The columns a row fills on SQLite's bulk path (all but ``id``), in the order rows are built:
# the actor's part (with the load's timestamps), then the customer's, then the event's own.
_ROW_COLUMNS = (
    # actor
    "tracompany",
    "tradepartment",
    "traorganization",
    "trarole",
    "trauserName",
    "traassistant",
    "side",
    "operator_id",
    "created_at",
    "updated_at",
    "client_addr",
    # customer
    "userId",
    "customer_source",
    # event
    "event_type",
    "operationEvent",
    "operationTime",
    "request_id",
    "changes",
)
# Databases whose events are loaded in one transaction straight through the driver; the
# others go through the recorder.
BULK_DIALECTS = frozenset({"sqlite"})
# SQLAlchemy's storage format for DateTime on SQLite, which every reader parses.
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def _append_events(
    sources: Sources,
    settings: Settings,
    accounts: dict[str, Account],
    targets: Sequence[DemoCustomer],
    count: int,
    days: int,
) -> tuple[int, int]:
    """Append the demo events not written yet; (written now, demo events in total)."""
    t = informationtra.c
    operators = [account.operator_id for account in accounts.values()]
    query = select(t.request_id).where(
        t.request_id.like(REQUEST_PREFIX + "%"), t.operator_id.in_(operators)
    )
    with sources.wechat.connect() as conn:
        done = set(conn.scalars(query))
    now = local_now(settings.zone)
    # A million small tuples: the cyclic GC would walk them again and again, in vain.
    with _gc_paused():
        events = _events(targets, count, days, now, skip=done)
        if sources.wechat.dialect.name in BULK_DIALECTS:
            chain = WriterChain(AuditKey(settings.resolved_audit_key()), settings.zone, "demo")
            with sources.wechat.connect() as conn:
                chain.register(conn)
            rows = _chained(chain, _sqlite_rows(events, accounts, now, days))
            written = load_rows(sources.wechat, (*_ROW_COLUMNS, *CHAIN_COLUMNS), rows, len(events))
            return written, len(done) + written
        drafts = _drafts(events, accounts, now, days)
    written = _append_bulk(sources, settings, drafts)
    return written, len(done) + written


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (the bulk data holds no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _append_bulk(sources: Sources, settings: Settings, drafts: Sequence[RecordDraft]) -> int:
    """MySQL/MariaDB: through the recorder, one transaction per chunk."""
    # Fresh request ids only (``done`` is filtered out), so the bulk path needs no per-row
    # idempotency check. An interrupted load keeps its whole chunks; a rerun adds the rest.
    recorder = Recorder(
        sources.wechat,
        settings.zone,
        AuditKey(settings.resolved_audit_key()),
        fk_blocks_primary=find_cascade_fk(sources.wechat, settings.users_table) is not None,
    )
    written = 0
    for start in range(0, len(drafts), CHUNK):
        try:
            written += recorder.append_bulk(drafts[start : start + CHUNK])
        except AppError as exc:
            raise AppError(
                f"写入演示操作记录失败:{exc.message}(已写入 {written} 条;再次运行会补齐其余部分)",
                code=exc.code,
            ) from exc
    return written


def _events(
    targets: Sequence[DemoCustomer],
    count: int,
    days: int,
    now: datetime,
    *,
    skip: Collection[str] = (),
) -> list[_Event]:
    """``count`` events in time order, the same for the same arguments (times are relative
    to ``now``); those whose request id is in ``skip`` are drawn but left out."""
    if not targets:
        return []
    rng = random.Random(SEED + 1)
    draw = rng.random
    hot = {c.id: rng.paretovariate(1.2) for c in targets}  # a few customers get most attention
    reps = [spec for spec in _ACTORS if spec.role == "业务员"]
    owner = {c.id: rng.choice(reps) for c in targets}
    # Everything is laid out once as (items, cumulative weights, total): per event only draws
    # remain (a million of them take about two seconds).
    everyone = _weighted(list(targets), hot)
    mixes = {
        rep: _cumulative([((kind.value, _text(kind)), weight) for kind, weight in mix])
        for rep, mix in ((True, _REP_MIX), (False, _LEAD_MIX))
    }
    # Per actor: a rep works on their own customers 85 % of the time, else on anyone's; a
    # manager on the department's; the others on anyone's (an empty pool falls back too).
    plans = []
    for actor, spec in enumerate(_ACTORS):
        rep = spec.role == "业务员"
        own = _weighted([c for c in targets if owner[c.id] is spec], hot)
        team = _weighted([c for c in targets if owner[c.id].department == spec.department], hot)
        other = team if spec.role == "经理" and team[0] else everyone
        plans.append((actor, rep, own if own[0] else everyone, other, mixes[rep]))
    _, actor_weights, actor_total = _cumulative([(None, spec.weight) for spec in _ACTORS])
    hours, hour_weights, hour_total = _cumulative([(h * 3600, w) for h, w in _HOURS.items()])
    edits, edit_weights, edit_total = _edits()
    edit_kind = EventType.EDIT.value
    today = now.date()
    workday = [(today - timedelta(days=back)).weekday() < 5 for back in range(days)]
    now_second = now.hour * 3600 + now.minute * 60 + now.second
    pick = bisect.bisect_right
    events: list[_Event] = []
    append = events.append
    for n in range(1, count + 1):
        actor, rep, own, (pool, weights, total), (kinds, kind_weights, kind_total) = plans[
            pick(actor_weights, draw() * actor_total)
        ]
        if rep and draw() < 0.85:
            pool, weights, total = own
        customer = pool[pick(weights, draw() * total)]
        kind, text = kinds[pick(kind_weights, draw() * kind_total)]
        if text is None:
            text = rng.choice(_OTHER_TEXTS)
        changes = edits[pick(edit_weights, draw() * edit_total)] if kind is edit_kind else None
        # The moment: mostly weekdays and working hours, within the last ``days`` days.
        back = int(draw() * days)
        redraws = 3  # weekends are quiet: most weekend picks are drawn again
        while redraws and not workday[back] and draw() >= 0.2:
            back = int(draw() * days)
            redraws -= 1
        second = hours[pick(hour_weights, draw() * hour_total)] + int(draw() * 3600)
        if back == 0 and second > now_second:  # later today: the same time a window earlier
            back = days
        request_id = f"{REQUEST_PREFIX}{n:06d}"
        if request_id not in skip:
            append(
                ((days - back) * 86400 + second, actor, customer, kind, text, changes, request_id)
            )
    events.sort(key=_moment)  # stable: ids follow time like live ones, ties in draw order
    return events


def _text(kind: EventType) -> str | None:
    """The operation text of an event type; ``None`` for "other" (a text is drawn)."""
    return None if kind is EventType.OTHER else EVENT_LABELS[kind]


def _cumulative(weighted: Sequence[tuple[T, float]]) -> tuple[list[T], list[float], float]:
    """(items, cumulative weights, total) for drawing with ``bisect``."""
    cumulative = list(itertools.accumulate(weight for _, weight in weighted))
    return [item for item, _ in weighted], cumulative, cumulative[-1]


def _moment(event: _Event) -> int:
    return event[0]


def _window_start(now: datetime, days: int) -> datetime:
    """Midnight of the window's first day: event moments count seconds from it."""
    return datetime.combine(now.date() - timedelta(days=days), datetime.min.time())


def _sqlite_rows(
    events: Sequence[_Event], accounts: dict[str, Account], now: datetime, days: int
) -> Iterator[tuple[Any, ...]]:
    """Rows in ``_ROW_COLUMNS`` order, as SQLAlchemy would store them on SQLite (made as the
    insert takes them: a million of them never sit in memory at once)."""
    stamp = now.strftime(_SQLITE_DATETIME)
    actor_parts = []
    for spec in _ACTORS:
        op = _operator(accounts[spec.username])
        actor_parts.append(
            (
                *(op.company, op.department, op.organization, op.role, op.name, op.assistant),
                *(spec.side, op.operator_id, stamp, stamp, None),
            )
        )
    # A moment's text is its hour's prefix and its minute and second: no per-row formatting.
    start = _window_start(now, days)
    hour_texts = [
        (start + timedelta(hours=h)).strftime("%Y-%m-%d %H:") for h in range((days + 1) * 24)
    ]
    second_texts = [f"{s // 60:02d}:{s % 60:02d}.000000" for s in range(3600)]
    return (
        actor_parts[actor]
        + (
            customer.id,
            customer.source,
            kind,
            text,
            hour_texts[moment // 3600] + second_texts[moment % 3600],
            request_id,
            changes,
        )
        for moment, actor, customer, kind, text, changes, request_id in events
    )


def _chained(chain: WriterChain, rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The rows with their chain columns appended (one transaction: the head is not kept)."""
    assert chain.head is not None
    key, head = chain.key, chain.head
    for values in rows:
        row = dict(zip(_ROW_COLUMNS, values, strict=True))
        head = seal(key, head, [row])
        yield (*values, row["chain_id"], row["chain_seq"], row["chain_prev"], row["chain_hash"])


def _drafts(
    events: Sequence[_Event], accounts: dict[str, Account], now: datetime, days: int
) -> list[RecordDraft]:
    """The events as the recorder takes them."""
    start = _window_start(now, days)
    operators = [_operator(accounts[spec.username]) for spec in _ACTORS]
    return [
        RecordDraft(
            operator=operators[actor],
            customer_id=customer.id,
            customer_source=customer.source,
            event_type=kind,
            operation_event=text,
            side=_ACTORS[actor].side,
            request_id=request_id,
            idempotent=True,
            changes_json=changes,
            occurred_at=start + timedelta(seconds=moment),
        )
        for moment, actor, customer, kind, text, changes, request_id in events
    ]


def _weighted(
    pool: list[DemoCustomer], hot: dict[str, float]
) -> tuple[list[DemoCustomer], list[float], float]:
    """A pool of customers, its cumulative weights and their total (empty pool: 0)."""
    return _cumulative([(c, hot[c.id]) for c in pool]) if pool else ([], [], 0.0)


def _operator(account: Account) -> Operator:
    return Operator(
        operator_id=account.operator_id,
        company=account.company,
        department=account.department,
        organization=account.organization,
        role=account.role,
        name=account.name,
        assistant=account.assistant,
        side=account.side,
    )


def _edits() -> tuple[list[str], list[float], float]:
    """Every ``changes`` JSON an edit can carry, with cumulative weights: one draw per edit.

    ``[{"field": "客户等级", "old": "B", "new": "A"}]``: one field two times in three, else two
    different ones; every field is as likely as the others, and so is each (old, new) pair of
    a field's values.
    """
    pairs = {
        field: [(old, new) for old in options for new in options if old != new]
        for field, options in _EDIT_FIELDS.items()
    }
    share = len(pairs)
    one = [([(f, *p)], 2 / 3 / share / len(pairs[f])) for f in pairs for p in pairs[f]]
    two = [
        ([(f, *p), (g, *q)], 1 / 3 / share / (share - 1) / len(pairs[f]) / len(pairs[g]))
        for f in pairs
        for g in pairs
        if g != f
        for p in pairs[f]
        for q in pairs[g]
    ]
    return _cumulative([(_changes_json(change), odds) for change, odds in one + two])


def _changes_json(change: list[tuple[str, str, str]]) -> str:
    fields = [{"field": field, "old": old, "new": new} for field, old, new in change]
    return json.dumps(fields, ensure_ascii=False)
