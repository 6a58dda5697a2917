"""``infotrack demo`` through the real CLI, then the real app with a demo account.

The trail's indexes are compared with those of the freshly migrated database: on SQLite a large
load drops and rebuilds them inside its transaction, and failures are injected with triggers (a
real database refusing a row) to show that an interrupted load leaves them, and no rows, behind.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine

from infotrack.app import create_app
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.kit.clock import local_now
from infotrack.kit.phone import parse_phone
from infotrack.maintenance import demo
from infotrack.maintenance.demo import load_demo
from infotrack.maintenance.schema import initialise
from infotrack.models import informationtra
from infotrack.tracking import recorder as recorder_module
from infotrack.tracking.events import EVENT_LABELS, EventType
from tests.conftest import add_user, bearer, count_records, make_settings, run_cli

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


def index_list(engine: Engine) -> dict[str, Any]:
    """informationtra's indexes as the database reports them (name, columns, unique); on
    SQLite also each stored ``CREATE INDEX``, in the order ``sqlite_master`` lists them."""
    reported = sorted(
        (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
        for ix in inspect(engine).get_indexes("informationtra")
    )
    found: dict[str, Any] = {"indexes": reported}
    if engine.dialect.name == "sqlite":
        found["sql"] = query(
            engine,
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = 'informationtra' ORDER BY rowid",
        )
    return found


def query(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    """Rows of a query, as the database returns them (no type processing)."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def root_pages(engine: Engine) -> dict[str, int]:
    """Where each index of informationtra starts. A rebuilt index starts elsewhere: the pages
    freed by dropping it go to the rows inserted next."""
    sql = (
        "SELECT name, rootpage FROM sqlite_master"
        " WHERE type = 'index' AND tbl_name = 'informationtra'"
    )
    return {str(name): int(str(page)) for name, page in query(engine, sql)}


def assert_intact(engine: Engine) -> None:
    """SQLite: every index holds exactly the table's rows."""
    if engine.dialect.name == "sqlite":
        assert query(engine, "PRAGMA integrity_check") == [("ok",)]


def test_demo_leaves_the_indexes_exactly_as_migrated(settings: Settings, sources: Sources) -> None:
    migrated = index_list(sources.wechat)  # the fixture has just run the migrations
    assert len(migrated["indexes"]) == len(informationtra.indexes)
    sqlite = sources.wechat.dialect.name == "sqlite"
    before = root_pages(sources.wechat) if sqlite else {}

    first = run_cli(settings, "demo", "--events", "3000")

    assert first.returncode == 0, first.stderr
    assert count_records(sources) == 3000
    assert index_list(sources.wechat) == migrated
    assert_intact(sources.wechat)
    if sqlite:  # a load into an empty table rebuilt every index
        rebuilt = root_pages(sources.wechat)
        assert all(rebuilt[name] != page for name, page in before.items())

    more = run_cli(settings, "demo", "--events", "3100")  # 100 more: maintained row by row

    assert more.returncode == 0, more.stderr
    assert count_records(sources) == 3100
    assert index_list(sources.wechat) == migrated
    assert_intact(sources.wechat)
    if sqlite:
        assert root_pages(sources.wechat) == rebuilt
    doctor = run_cli(settings, "doctor")
    assert doctor.returncode == 0, doctor.stdout


def test_demo_rows_are_complete_and_consistent(settings: Settings, sources: Sources) -> None:
    result = run_cli(settings, "demo", "--events", "5000", "--days", "28")
    assert result.returncode == 0, result.stderr
    now = local_now(settings.zone)

    accounts = {
        f"account:{r[0]}": tuple(r[1:])
        for r in rows(
            sources,
            "wechat",
            "SELECT id, company, department, organization, role, name, assistant, side"
            " FROM infotrack_accounts",
        )
    }
    customers = {("wechat", str(r[0])) for r in rows(sources, "wechat", "SELECT userId FROM users")}
    customers |= {
        ("primary", str(r[0])) for r in rows(sources, "primary", "SELECT id FROM contacts")
    }
    with sources.wechat.connect() as conn:
        records = list(conn.execute(select(informationtra).order_by(informationtra.c.id)))

    assert sorted(r.request_id for r in records) == [f"demo-{n:06d}" for n in range(1, 5001)]
    times = [r.operationTime for r in records]
    assert times == sorted(times)  # ids follow time, like live records
    assert now - timedelta(days=28) <= times[0]
    assert times[-1] <= now
    labels = {kind.value: label for kind, label in EVENT_LABELS.items()}
    for r in records:
        identity = (r.tracompany, r.tradepartment, r.traorganization, r.trarole)
        assert (*identity, r.trauserName, r.traassistant, r.side) == accounts[r.operator_id]
        assert (r.customer_source, r.userId) in customers
        if r.event_type == "other":
            assert r.operationEvent
            assert r.operationEvent not in labels.values()
        else:
            assert r.operationEvent == labels[r.event_type]
        assert (r.changes is not None) == (r.event_type == EventType.EDIT)
        assert r.client_addr is None
        assert r.created_at == r.updated_at
        assert now - timedelta(minutes=5) <= r.created_at <= now
    edits = [json.loads(r.changes) for r in records if r.changes]
    assert Counter(len(e) for e in edits)[1] > Counter(len(e) for e in edits)[2] > 0
    for edit in edits:
        assert len({change["field"] for change in edit}) == len(edit)
        assert all(change["old"] != change["new"] for change in edit)

    # Believable: reps do most of the work, auditors none; weekdays and office hours mostly;
    # a few customers get much of the attention.
    by_role = Counter(accounts[r.operator_id][3] for r in records)
    assert by_role["业务员"] > 0.8 * len(records)
    assert by_role["经理"] > 0
    assert by_role["审计"] == by_role["系统管理员"] == 0
    weekend = sum(r.operationTime.weekday() >= 5 for r in records)
    assert 0.02 < weekend / len(records) < 0.15
    office = sum(9 <= r.operationTime.hour < 18 for r in records)
    assert office / len(records) > 0.85
    per_customer = sorted(Counter(r.userId for r in records).values(), reverse=True)
    assert sum(per_customer[:13]) > 0.3 * len(records)  # the top tenth: a third or more


def test_sqlite_bulk_rows_are_stored_as_the_recorder_stores_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same events, once through SQLite's bulk path and once through the recorder (the
    # path of MySQL), at one pinned "now": the stored rows are the same, text for text, chain
    # hashes included.
    pinned = datetime(2026, 11, 27, 15, 30, 45)
    monkeypatch.setattr(demo, "local_now", lambda zone: pinned)
    monkeypatch.setattr(recorder_module, "local_now", lambda zone: pinned)
    stored = {}
    for name, bulk in (("bulk", demo.BULK_DIALECTS), ("recorder", frozenset())):
        monkeypatch.setattr(demo, "BULK_DIALECTS", bulk)
        urls = {s: f"sqlite:///{tmp_path / name / f'{s}.db'}" for s in ("wechat", "primary")}
        settings = make_settings(urls, tmp_path / name)
        sources = Sources.from_settings(settings)
        try:
            initialise(sources, settings)
            load_demo(sources, settings, events=2000, days=28)
            stored[name] = query(
                sources.wechat,
                "SELECT * FROM informationtra ORDER BY id",
            )
        finally:
            sources.dispose()

    columns = [c.name for c in informationtra.columns]
    assert len(stored["bulk"]) == 2000
    assert stored["bulk"] == stored["recorder"]
    assert {row[columns.index("created_at")] for row in stored["bulk"]} == {
        "2026-11-27 15:30:45.000000"
    }


def test_a_load_the_database_refuses_leaves_the_indexes_and_writes_nothing(
    settings: Settings, sources: Sources
) -> None:
    migrated = index_list(sources.wechat)
    refuse = (
        "CREATE TRIGGER demo_refuses BEFORE INSERT ON informationtra"
        " WHEN NEW.request_id = 'demo-000300' BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
        if sources.wechat.dialect.name == "sqlite"
        else "CREATE TRIGGER demo_refuses BEFORE INSERT ON informationtra FOR EACH ROW"
        " IF NEW.request_id = 'demo-000300' THEN"
        " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by test'; END IF"
    )
    with sources.wechat.begin() as conn:
        conn.execute(text(refuse))

    result = run_cli(settings, "demo", "--events", "600")  # one transaction on both backends

    assert result.returncode == 1
    assert "refused by test" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert count_records(sources) == 0
    assert index_list(sources.wechat) == migrated
    assert_intact(sources.wechat)

    with sources.wechat.begin() as conn:
        conn.execute(text("DROP TRIGGER demo_refuses"))
    again = run_cli(settings, "demo", "--events", "600")
    assert again.returncode == 0, again.stderr
    assert count_records(sources) == 600
    assert index_list(sources.wechat) == migrated


def test_sqlite_load_failing_while_rebuilding_the_indexes_rolls_everything_back(
    tmp_path: Path,
) -> None:
    urls = {s: f"sqlite:///{tmp_path / f'{s}.db'}" for s in ("wechat", "primary")}
    settings = make_settings(urls, tmp_path)
    sources = Sources.from_settings(settings)
    try:
        initialise(sources, settings)
        migrated = index_list(sources.wechat)
        # While the indexes are dropped, this trigger slips in a second row with the request id
        # of the 300th event: building the unique index again fails, after the indexes before
        # it in sqlite_master were already rebuilt.
        with sources.wechat.begin() as conn:
            conn.execute(
                text(
                    "CREATE TRIGGER demo_twice AFTER INSERT ON informationtra"
                    " WHEN NEW.request_id = 'demo-000300' BEGIN"
                    " INSERT INTO informationtra (userId, request_id, operator_id)"
                    " VALUES (NEW.userId, NEW.request_id, NEW.operator_id); END"
                )
            )
        names = [name for name, _ in migrated["sql"]]
        assert names.index("uq_informationtra_request") > 0

        result = run_cli(settings, "demo", "--events", "600")

        assert result.returncode == 1
        assert "UNIQUE" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert count_records(sources) == 0
        assert index_list(sources.wechat) == migrated
        assert_intact(sources.wechat)
    finally:
        sources.dispose()


def test_sqlite_indexes_not_as_declared_are_left_as_they_are(tmp_path: Path) -> None:
    urls = {s: f"sqlite:///{tmp_path / f'{s}.db'}" for s in ("wechat", "primary")}
    settings = make_settings(urls, tmp_path)
    sources = Sources.from_settings(settings)
    try:
        initialise(sources, settings)
        with sources.wechat.begin() as conn:  # a CRM's own index, and an older definition
            conn.execute(text("CREATE INDEX crm_org ON informationtra (traorganization)"))
            conn.execute(text("DROP INDEX ix_informationtra_name_time"))
            conn.execute(
                text(
                    "CREATE INDEX ix_informationtra_name_time"
                    ' ON informationtra ("trauserName", tracompany, "operationTime")'
                )
            )
        before = index_list(sources.wechat)
        pages = root_pages(sources.wechat)

        result = run_cli(settings, "demo", "--events", "1000")

        assert result.returncode == 0, result.stderr
        assert count_records(sources) == 1000
        after = index_list(sources.wechat)
        assert sorted(after["sql"]) == sorted(before["sql"])
        assert after["indexes"] == before["indexes"]
        assert_intact(sources.wechat)
        kept = root_pages(sources.wechat)
        assert kept["crm_org"] == pages["crm_org"]
        assert kept["ix_informationtra_name_time"] == pages["ix_informationtra_name_time"]
        assert kept["ix_informationtra_user_time"] != pages["ix_informationtra_user_time"]
    finally:
        sources.dispose()
