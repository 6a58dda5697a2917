"""``infotrack demo`` through the real CLI, then the real app with a demo account."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from infotrack.app import create_app
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.kit.clock import local_now
from infotrack.kit.phone import parse_phone
from infotrack.models import informationtra
from tests.conftest import add_user, bearer, count_records, run_cli

RECORD = "/api/information-tracking/record"


def rows(sources: Sources, source: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of a query on one source."""
    engine = sources.wechat if source == "wechat" else sources.primary
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def counts(sources: Sources) -> tuple[int, int, int, int]:
    """(users, contacts, accounts, records)."""
    return (
        len(rows(sources, "wechat", "SELECT userId FROM users")),
        len(rows(sources, "primary", "SELECT id FROM contacts")),
        len(rows(sources, "wechat", "SELECT id FROM infotrack_accounts")),
        count_records(sources),
    )


def test_demo_loads_both_sources_and_a_second_run_adds_nothing(
    settings: Settings, sources: Sources
) -> None:
    result = run_cli(settings, "demo", "--events", "600", "--days", "14")

    assert result.returncode == 0, result.stderr
    assert "demo1234" in result.stdout
    assert "sales1" in result.stdout
    assert counts(sources) == (80, 50, 10, 600)

    users = rows(sources, "wechat", "SELECT userId, phoneNumber FROM users")
    contacts = rows(sources, "primary", "SELECT id, phoneNumber FROM contacts")
    stored = [str(phone) for _, phone in users + contacts]
    assert sum(p.startswith("+86") for p in stored) >= 5
    assert sum(p.startswith("86") for p in stored) >= 5
    assert sum(len(p) == 11 for p in stored) > len(stored) // 2
    assert any(p.startswith("19") for p in stored) or any(p[3:5] == "19" for p in stored)
    numbers = Counter(parse_phone(str(p)).e164 for _, p in users)
    assert sorted(numbers.values())[-2:] == [1, 2]  # exactly one number shared by two users
    wechat_numbers = set(numbers)
    assert sum(parse_phone(str(p)).e164 in wechat_numbers for _, p in contacts) == 1

    t = informationtra.c
    query = select(
        t.event_type, t.customer_source, t.operationTime, t.changes, t.request_id, t.tradepartment
    )
    with sources.wechat.connect() as conn:
        records = [tuple(r) for r in conn.execute(query)]
    kinds = Counter(r[0] for r in records)
    assert 0.45 < kinds["view_detail"] / 600 < 0.65
    assert 0.12 < kinds["follow_up"] / 600 < 0.28
    assert 0.08 < kinds["edit"] / 600 < 0.22
    assert {r[1] for r in records} == {"wechat", "primary"}
    assert {r[5] for r in records} >= {"销售一部", "销售二部"}
    assert all(str(r[4]).startswith("demo-") for r in records)
    now = local_now(settings.zone)
    assert all(now - timedelta(days=14) <= r[2] <= now for r in records)
    working = sum(9 <= r[2].hour < 18 for r in records)
    assert 0.8 < working / 600 < 1.0  # mostly working hours, a few evenings
    for edit in (r for r in records if r[0] == "edit"):
        changes = json.loads(str(edit[3]))
        assert changes
        assert all(set(change) == {"field", "old", "new"} for change in changes)

    again = run_cli(settings, "demo", "--events", "600", "--days", "14")
    assert again.returncode == 0, again.stderr
    assert "新增 0" in again.stdout
    assert counts(sources) == (80, 50, 10, 600)

    more = run_cli(settings, "demo", "--events", "650", "--days", "14")
    assert more.returncode == 0, more.stderr
    assert counts(sources) == (80, 50, 10, 650)  # only the difference is added


def test_demo_account_signs_in_and_records_for_demo_customers(
    settings: Settings, sources: Sources
) -> None:
    assert run_cli(settings, "demo", "--events", "20").returncode == 0
    contact_sql = "SELECT phoneNumber FROM contacts WHERE id = 1002"
    only_contact = rows(sources, "primary", contact_sql)[0][0]

    with TestClient(create_app(settings)) as client:
        headers = bearer(client, "sales1", "demo1234")
        me = client.get("/api/auth/me", headers=headers).json()["data"]
        assert (me["name"], me["department"], me["role"]) == ("张伟", "销售一部", "业务员")

        seed_number = client.post(
            RECORD,
            json={"phoneNumber": "+86 138-0013-8000", "operationEvent": "查看客户详情"},
            headers=headers,
        )
        assert seed_number.status_code == 200, seed_number.text
        assert seed_number.json()["data"]["userId"] == "wx_000001"

        contact = client.post(
            RECORD,
            json={"phoneNumber": str(only_contact), "operationEvent": "更新客户跟进"},
            headers=headers,
        )
        assert contact.status_code == 200, contact.text
        assert contact.json()["data"]["source"] == "primary"
        assert contact.json()["data"]["userId"] == "1002"

        sales_side = client.post(
            f"{RECORD}?isSupplySide=false",
            json={"phoneNumber": "13800138000", "operationEvent": "修改客户信息"},
            headers=bearer(client, "salesside", "demo1234"),
        )
        assert sales_side.status_code == 200, sales_side.text
    assert count_records(sources) == 23


def test_demo_before_init_says_to_run_init(settings: Settings) -> None:
    result = run_cli(settings, "demo", "--events", "10")

    assert result.returncode == 1
    assert "infotrack init" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_demo_refuses_a_database_with_real_customers(settings: Settings, sources: Sources) -> None:
    add_user(sources, "crm_0001", "13800138000", "真实客户")

    result = run_cli(settings, "demo", "--events", "10")

    assert result.returncode == 1
    assert "已有真实数据" in result.stderr
    assert counts(sources) == (1, 0, 0, 0)
