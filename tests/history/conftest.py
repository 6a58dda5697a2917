"""Fixtures for the read side: a cast of accounts, customers in both sources, and a known trail.

Accounts are inserted with one shared password hash and signed in with a token issued by the
real token service: argon2 costs about a second per hash and per login on a busy test host, and
these tests need ten readers each. The login endpoint itself is covered by ``tests/auth``.

Rows reach ``informationtra`` three ways, as in production: through the API (stamped "now"),
through :meth:`Recorder.append_bulk` with an explicit ``occurred_at`` (imports, the demo), and
as the CRM's own code writes them — the seed's columns only, no event type, source or operator id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from infotrack.app import create_app
from infotrack.audit.chain import AuditKey
from infotrack.auth.passwords import hash_password
from infotrack.auth.tokens import TokenService
from infotrack.config import Settings
from infotrack.db import Sources, session_scope
from infotrack.kit.clock import local_now
from infotrack.models import Account
from infotrack.models.informationtra import SEED_COLUMNS, informationtra
from infotrack.tracking.recorder import Operator, RecordDraft, Recorder, new_request_id
from tests.conftest import PASSWORD, add_contact, add_user, make_settings

RECORDS = "/api/information-tracking/records"
STATS = "/api/information-tracking/stats"
ACCESS_LOG = "/api/information-tracking/access-log"

COMPANY_A = "华东贸易有限公司"
COMPANY_B = "华南实业集团"
GROUP = "华夏控股集团"

# username -> identity fields. 张伟 exists twice (two companies): names are not identities.
CAST: dict[str, dict[str, str]] = {
    "zhangwei": {"role": "业务员", "company": COMPANY_A, "department": "销售一部", "name": "张伟"},
    "lisi": {"role": "业务员", "company": COMPANY_A, "department": "销售二部", "name": "李四"},
    "wangqiang": {"role": "经理", "company": COMPANY_A, "department": "销售一部", "name": "王强"},
    "zhaomin": {"role": "总监", "company": COMPANY_A, "department": "营销中心", "name": "赵敏"},
    "qianjun": {"role": "管理员", "company": COMPANY_A, "department": "信息部", "name": "钱军"},
    "sunli": {"role": "审计", "company": COMPANY_A, "department": "审计部", "name": "孙丽"},
    "zhouhao": {"role": "系统管理员", "company": GROUP, "department": "信息中心", "name": "周浩"},
    "wuyue": {"role": "实习生", "company": COMPANY_A, "department": "销售一部", "name": "吴悦"},
    "zhangwei_b": {
        "role": "业务员",
        "company": COMPANY_B,
        "department": "销售一部",
        "name": "张伟",
    },
    "zhengyu": {"role": "管理员", "company": COMPANY_B, "department": "信息部", "name": "郑宇"},
}


@dataclass(frozen=True)
class Person:
    """An account of the cast: its id, the operator it records as, its bearer header."""

    username: str
    account_id: int
    operator: Operator
    headers: dict[str, str]


@dataclass
class Cast:
    """Every account of :data:`CAST`, by username."""

    people: dict[str, Person] = field(default_factory=dict)

    def __getitem__(self, username: str) -> Person:
        return self.people[username]


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password(PASSWORD)


def quick_account(
    sources: Sources, settings: Settings, username: str, **fields: str | None
) -> Person:
    """An enabled account (password :data:`PASSWORD`) and a token for it; no argon2 per call."""
    now = local_now(settings.zone)
    values = {"organization": "华东大区", "assistant": "李娜", "side": "supply"} | fields
    with session_scope(sources.wechat) as session:
        account = Account(
            username=username,
            password_hash=_password_hash(),
            disabled=False,
            token_version=1,
            created_at=now,
            updated_at=now,
            **values,
        )
        session.add(account)
        session.flush()
        account_id = account.id
        operator = Operator(
            operator_id=account.operator_id,
            company=account.company,
            department=account.department,
            organization=account.organization,
            role=account.role,
            name=account.name,
            assistant=account.assistant,
            side=account.side,
        )
    token = TokenService(settings, settings.resolved_secret_key()).issue(account_id, 1)
    return Person(username, account_id, operator, {"Authorization": f"Bearer {token}"})


@pytest.fixture
def cast(sources: Sources, settings: Settings) -> Cast:
    """The ten accounts of :data:`CAST`."""
    return Cast({name: quick_account(sources, settings, name, **f) for name, f in CAST.items()})


def other_operator(operator_id: str, **fields: str | None) -> Operator:
    """An operator without an account here (a CRM JWT user, say)."""
    values: dict[str, Any] = {
        "company": COMPANY_A,
        "department": "销售一部",
        "organization": "华东大区",
        "role": "业务员",
        "name": "张伟",
        "assistant": None,
    } | fields
    return Operator(operator_id=operator_id, **values)


def local(text: str) -> datetime:
    """A naive local time as ``operationTime`` stores it: ``local("2026-11-02 09:15")``."""
    return datetime.fromisoformat(text)


def append(
    sources: Sources,
    settings: Settings,
    operator: Operator,
    customer: tuple[str, str],
    event_type: str,
    text: str,
    when: datetime,
    changes: list[dict[str, Any]] | None = None,
) -> int:
    """Append one back-dated record through the recorder; its id."""
    source, customer_id = customer
    draft = RecordDraft(
        operator=operator,
        customer_id=customer_id,
        customer_source=source,
        event_type=event_type,
        operation_event=text,
        side="supply",
        request_id=new_request_id(),
        changes_json=json.dumps(changes, ensure_ascii=False) if changes else None,
        occurred_at=when,
    )
    Recorder(sources.wechat, settings.zone, AuditKey(settings.resolved_audit_key())).append_bulk(
        [draft]
    )
    return latest_id(sources)


def crm_row(
    sources: Sources,
    *,
    name: str | None,
    company: str | None,
    department: str | None,
    user_id: str,
    text: str | None,
    when: datetime | None,
    role: str = "业务员",
    created: datetime | None = None,
) -> int:
    """A row as the CRM's own code writes it: the seed's columns only; its id."""
    values = {
        "tracompany": company,
        "tradepartment": department,
        "traorganization": "华东大区",
        "trarole": role,
        "trauserName": name,
        "traassistant": None,
        "userId": user_id,
        "operationEvent": text,
        "operationTime": when,
        "created_at": created,
        "updated_at": created,
    }
    assert set(values) <= set(SEED_COLUMNS)
    with sources.wechat.begin() as conn:
        conn.execute(insert(informationtra).values(**values))
    return latest_id(sources)


def latest_id(sources: Sources) -> int:
    """The highest id in informationtra."""
    with sources.wechat.connect() as conn:
        return int(conn.execute(select(func.max(informationtra.c.id))).scalar_one())


# --- the customers -----------------------------------------------------------------------
# 138 0013 8000 is one person held in both sources; "7" is an id in both sources, two people.
U1 = ("wechat", "u-1")
U2 = ("wechat", "u-2")
W7 = ("wechat", "7")
P7 = ("primary", "7")
P8 = ("primary", "8")


def add_customers(sources: Sources) -> None:
    """Customers in wechat ``users`` and primary ``contacts``, stored in assorted spellings."""
    add_user(sources, "u-1", "13800138000", "王小明")
    add_user(sources, "u-2", "+8613900139000", "李小红")
    add_user(sources, "7", "13700137000", "微信客户七")
    add_contact(sources, "13600136000", "通讯录七", contact_id=7)
    add_contact(sources, "8613800138000", "王小明(通讯录)", contact_id=8)


@dataclass
class Trail:
    """The known trail of the filter tests: tag -> row id."""

    ids: dict[str, int]

    def tags(self, items: list[dict[str, Any]]) -> set[str]:
        """The tags of the rows an answer holds (fails on a row we did not write)."""
        by_id = {row_id: tag for tag, row_id in self.ids.items()}
        return {by_id[item["id"]] for item in items}


@pytest.fixture
def trail(sources: Sources, settings: Settings, cast: Cast) -> Trail:
    """Five customers and twelve rows over 2026-11-02 (a Monday) to 2026-11-08, local time.

    ==== ========== ========== =========== =================== ================
    tag  operator   customer   type        text                operationTime
    ==== ========== ========== =========== =================== ================
    r1   张伟       wechat u-1 view_detail 查看客户详情        11-02 09:15:00
    r2   张伟       wechat u-1 edit        修改客户信息 +chg   11-02 14:30:00
    r3   李四       wechat u-2 follow_up   (phone, price, date) 11-03 10:00:00
    r4   李四       primary 8  call        拨打客户电话        11-03 23:59:59
    r5   张伟       wechat 7   view_detail 查看客户详情        11-04 00:00:00
    r6   王强       primary 7  follow_up   跟进 50% 折扣       11-05 08:00:00
    r7   赵敏       wechat u-2 export      导出客户数据        11-08 07:00:00
    crm1 张伟 (CRM) u-1        -           查看客户详情        11-04 12:00:00
    crm2 李四 (CRM) 8          -           修改客户信息        11-05 12:00:00
    crm3 王强 (CRM) 7          -           打了个电话 138…     11-06 09:00:00
    crm4 李四 (CRM) u-2        -           更新客户跟进        11-06 18:00:00
    crm5 王强 (CRM) 7          -           跟进 500 元         11-07 09:00:00
    ==== ========== ========== =========== =================== ================
    """
    add_customers(sources)
    zw, ls, wq, zm = (cast[n].operator for n in ("zhangwei", "lisi", "wangqiang", "zhaomin"))
    ids: dict[str, int] = {}

    def ours(tag: str, *args: Any, **kwargs: Any) -> None:
        ids[tag] = append(sources, settings, *args, **kwargs)

    ours("r1", zw, U1, "view_detail", "查看客户详情", local("2026-11-02 09:15:00"))
    ours(
        "r2",
        zw,
        U1,
        "edit",
        "修改客户信息",
        local("2026-11-02 14:30:00"),
        changes=[{"field": "phone", "old": "13800138000", "new": "+86 139-0013-9000"}],
    )
    ours(
        "r3",
        ls,
        U2,
        "follow_up",
        "更新客户跟进:致电13900139000,报价¥1999.00,约2026-12-01面谈",
        local("2026-11-03 10:00:00"),
    )
    ours("r4", ls, P8, "call", "拨打客户电话", local("2026-11-03 23:59:59"))
    ours("r5", zw, W7, "view_detail", "查看客户详情", local("2026-11-04 00:00:00"))
    ours("r6", wq, P7, "follow_up", "跟进 50% 折扣", local("2026-11-05 08:00:00"))
    ours("r7", zm, U2, "export", "导出客户数据", local("2026-11-08 07:00:00"))

    def crm(tag: str, name: str, department: str, user_id: str, text: str, when: str) -> None:
        ids[tag] = crm_row(
            sources,
            name=name,
            company=COMPANY_A,
            department=department,
            user_id=user_id,
            text=text,
            when=local(when),
            created=local(when) if tag == "crm1" else None,
        )

    crm("crm1", "张伟", "销售一部", "u-1", "查看客户详情", "2026-11-04 12:00:00")
    crm("crm2", "李四", "销售二部", "8", "修改客户信息", "2026-11-05 12:00:00")
    crm("crm3", "王强", "销售一部", "7", "打了个电话 13800138000", "2026-11-06 09:00:00")
    crm("crm4", "李四", "销售二部", "u-2", "更新客户跟进", "2026-11-06 18:00:00")
    crm("crm5", "王强", "销售一部", "7", "跟进 500 元", "2026-11-07 09:00:00")
    return Trail(ids)


ALL_TAGS = {"r1", "r2", "r3", "r4", "r5", "r6", "r7", "crm1", "crm2", "crm3", "crm4", "crm5"}


def walk(
    client: TestClient, url: str, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """Every item behind ``url``, following ``nextCursor`` to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        items.extend(data["items"])
        cursor = data["nextCursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursors never ended")


def fetch(
    client: TestClient, headers: dict[str, str], url: str = RECORDS, **params: Any
) -> dict[str, Any]:
    """``data`` of one successful GET."""
    response = client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return dict(body["data"])


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_with(
    db_urls: dict[str, str], tmp_path: Path, sources: Sources
) -> Iterator[ClientFactory]:
    """The real app (lifespan running) on the same databases, with settings overridden."""
    with ExitStack() as stack:

        def build(**overrides: Any) -> TestClient:
            settings = make_settings(db_urls, tmp_path, **overrides)
            return stack.enter_context(TestClient(create_app(settings)))

        yield build
