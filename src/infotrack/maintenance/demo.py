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
- ``events`` operation records over the last ``days`` days, mostly in working hours, appended
  through :class:`~infotrack.tracking.recorder.Recorder` like live ones.

Idempotent: customers and accounts that exist already are skipped. Events carry the request
ids ``demo-000001`` … ``demo-<events>``; ids present already are skipped, so a second run with
the same ``--events`` adds nothing and a run with a larger count adds only the difference
(spread over the window ending now).

Refuses a database that holds customers or records but no demo data: fake customers and fake
trail rows must never mix into a real CRM's audit trail.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, insert, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import column, table

from infotrack.auth.service import AccountFields, add_account
from infotrack.config import Settings
from infotrack.db import Sources, session_scope
from infotrack.errors import AppError, ConfigError, ServiceUnavailable
from infotrack.kit.clock import local_now
from infotrack.kit.phone import parse_phone
from infotrack.maintenance.doctor import short_reason
from infotrack.maintenance.schema import current_revision, find_cascade_fk, head_revision
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
    drafts = [
        d
        for d in _drafts(accounts, targets, count, days, local_now(settings.zone))
        if d.request_id not in done
    ]
    drafts.sort(key=lambda d: d.occurred_at or datetime.min)  # ids follow time, like live ones
    # Fresh request ids only (``done`` is filtered out above), so the bulk path needs no
    # per-row idempotency check: one transaction per chunk, tens of thousands of rows a second.
    recorder = Recorder(
        sources.wechat,
        settings.zone,
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
    return written, len(done) + written


def _drafts(
    accounts: dict[str, Account],
    targets: Sequence[DemoCustomer],
    count: int,
    days: int,
    now: datetime,
) -> list[RecordDraft]:
    """``count`` events, the same for the same arguments (times are relative to ``now``)."""
    if not targets:
        return []
    rng = random.Random(SEED + 1)
    actors = [spec for spec in ACCOUNTS if spec.weight > 0]
    hot = {c.id: rng.paretovariate(1.2) for c in targets}  # a few customers get most attention
    reps = [spec for spec in actors if spec.role == "业务员"]
    owner = {c.id: rng.choice(reps) for c in targets}
    # Pools and cumulative weights are worked out once: per event only draws remain.
    everyone = _weighted(list(targets), hot)
    own = {s.username: _weighted([c for c in targets if owner[c.id] is s], hot) for s in reps}
    team = {
        s.department: _weighted([c for c in targets if owner[c.id].department == s.department], hot)
        for s in actors
    }
    actor_weights = list(itertools.accumulate(a.weight for a in actors))
    mixes = {
        role: ([k for k, _ in mix], list(itertools.accumulate(w for _, w in mix)))
        for role, mix in (("rep", _REP_MIX), ("lead", _LEAD_MIX))
    }
    operators = {spec.username: _operator(accounts[spec.username]) for spec in actors}
    drafts = []
    hours = (list(_HOURS), list(itertools.accumulate(_HOURS.values())))
    for n in range(1, count + 1):
        spec = _pick(rng, actors, actor_weights)
        if spec.role == "业务员" and rng.random() < 0.85:
            pool, weights = own[spec.username]
        elif spec.role == "经理":
            pool, weights = team[spec.department]
        else:
            pool, weights = everyone
        if not pool:
            pool, weights = everyone
        customer = _pick(rng, pool, weights)
        kinds, kind_weights = mixes["rep" if spec.role == "业务员" else "lead"]
        kind = _pick(rng, kinds, kind_weights)
        text = rng.choice(_OTHER_TEXTS) if kind is EventType.OTHER else EVENT_LABELS[kind]
        drafts.append(
            RecordDraft(
                operator=operators[spec.username],
                customer_id=customer.id,
                customer_source=customer.source,
                event_type=kind.value,
                operation_event=text,
                side=spec.side,
                request_id=f"{REQUEST_PREFIX}{n:06d}",
                idempotent=True,
                changes_json=_changes(rng) if kind is EventType.EDIT else None,
                occurred_at=_moment(rng, now, days, hours),
            )
        )
    return drafts


def _pick(rng: random.Random, items: Sequence[T], cum_weights: Sequence[float]) -> T:
    """``rng.choices(items, cum_weights=…)[0]`` without its per-call set-up (hot loop)."""
    return items[bisect.bisect_right(cum_weights, rng.random() * cum_weights[-1])]


def _weighted(
    pool: list[DemoCustomer], hot: dict[str, float]
) -> tuple[list[DemoCustomer], list[float]]:
    """A pool of customers and its cumulative weights, for ``random.choices``."""
    return pool, list(itertools.accumulate(hot[c.id] for c in pool))


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


def _changes(rng: random.Random) -> str:
    """``[{"field": "客户等级", "old": "B", "new": "A"}]`` with one or two fields."""
    changes = []
    for field in rng.sample(sorted(_EDIT_FIELDS), rng.choice((1, 1, 2))):
        old, new = rng.sample(_EDIT_FIELDS[field], 2)
        changes.append({"field": field, "old": old, "new": new})
    return json.dumps(changes, ensure_ascii=False)


def _moment(
    rng: random.Random, now: datetime, days: int, hours: tuple[list[int], list[int]]
) -> datetime:
    """A local time within the last ``days`` days: weekdays and working hours mostly."""
    today = now.date()
    day = today - timedelta(days=int(rng.random() * days))
    for _ in range(3):  # weekends are quiet: most weekend picks are drawn again
        if day.weekday() < 5 or rng.random() < 0.2:
            break
        day = today - timedelta(days=int(rng.random() * days))
    hour = _pick(rng, *hours)
    second = int(rng.random() * 3600)
    moment = datetime(day.year, day.month, day.day, hour, second // 60, second % 60)
    return moment - timedelta(days=days) if moment > now else moment
