"""Separation of duties through the real API, CLI and alert worker, on both backends.

管理员 administers accounts and may not read the access log; 审计 reads it and may not
administer accounts; 系统管理员 does both but never sees the entries of their own acts. Every
administrative act (account added, disabled, enabled, by API or CLI; rules changed) is in
the access log with who and when.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from infotrack.alerts.worker import AlertWorker
from infotrack.config import Settings
from infotrack.db import Sources, session_scope
from infotrack.kit.clock import ManualClock
from infotrack.models import AccessLogEntry, Account
from tests.conftest import PASSWORD, SECRET, make_settings, run_cli
from tests.history.conftest import Person, fetch, quick_account
from tests.tracking.conftest import assert_error

ACCOUNTS = "/api/accounts"
ACCESS_LOG = "/api/information-tracking/access-log"
RECORDS = "/api/information-tracking/records"
VERIFY = "/api/information-tracking/audit/verify"
COMPANY_A = "华东贸易有限公司"
HEAD_OFFICE = "集团总部"
NEW_PASSWORD = "another-long-pw"
NOW = datetime(2026, 11, 27, 15, 0, 0)  # the worker's clock, local (Asia/Shanghai)
RULES = """
[[rules]]
name = "bulk-view"
kind = "burst"
event_types = ["view_detail"]
threshold = {threshold}
window = "10m"
"""

# username -> (role, company, name)
CAST: dict[str, tuple[str, str, str]] = {
    "root": ("系统管理员", HEAD_OFFICE, "赵总"),
    "qianjun": ("管理员", COMPANY_A, "钱军"),
    "sunli": ("审计", COMPANY_A, "孙丽"),
    "zhangwei": ("业务员", COMPANY_A, "张伟"),
}


@pytest.fixture
def cast(sources: Sources, settings: Settings) -> dict[str, Person]:
    """Every account of CAST, signed in (bearer tokens), by username."""
    return {
        username: quick_account(
            sources, settings, username, role=role, company=company, name=name, department="总部"
        )
        for username, (role, company, name) in CAST.items()
    }


def new_account(username: str = "xiaoming", **fields: Any) -> dict[str, Any]:
    """A valid body for POST /api/accounts."""
    return {
        "username": username,
        "password": NEW_PASSWORD,
        "name": "小明",
        "department": "销售二部",
        "role": "业务员",
        **fields,
    }


def post(client: TestClient, who: Person, path: str, body: Any = None) -> Any:
    return client.post(path, json=body, headers=who.headers)


def log_of(client: TestClient, who: Person, **params: Any) -> list[dict[str, Any]]:
    """The access log as ``who`` reads it through the API, newest first."""
    return list(fetch(client, who.headers, ACCESS_LOG, limit=200, **params)["items"])


def stored(sources: Sources, action: str) -> list[AccessLogEntry]:
    """Entries of ``action`` straight from the database, oldest first."""
    with session_scope(sources.wechat) as session:
        query = select(AccessLogEntry).where(AccessLogEntry.action == action)
        return list(session.scalars(query.order_by(AccessLogEntry.id)))


def account_row(sources: Sources, username: str) -> Account | None:
    with session_scope(sources.wechat) as session:
        return session.scalar(select(Account).where(Account.username == username))


def within(iso: str, start: datetime, end: datetime) -> bool:
    """True when the ISO time (with offset) lies between two aware instants."""
    at = datetime.fromisoformat(iso)
    assert at.utcoffset() == timedelta(hours=8), iso  # the configured zone, said explicitly
    return start - timedelta(seconds=1) <= at <= end + timedelta(seconds=1)


# --- 管理员 does not audit -------------------------------------------------------------------


def test_an_account_admin_is_refused_the_access_log(
    client: TestClient, cast: dict[str, Person]
) -> None:
    response = client.get(ACCESS_LOG, headers=cast["qianjun"].headers)
    body = assert_error(response, 403, "separation_of_duties")
    assert "访问日志" in body["message"]
    assert "职责分离" in body["message"]
    # A salesperson is refused too, as a plain matter of role.
    assert_error(client.get(ACCESS_LOG, headers=cast["zhangwei"].headers), 403, "forbidden_role")
    # Both attempts are on record for the auditor; the administrator never sees their own.
    refused = [e for e in log_of(client, cast["sunli"]) if e["action"] == "audit_refused"]
    assert [(e["operatorName"], e["filters"]) for e in refused] == [
        ("张伟", {"method": "GET", "path": ACCESS_LOG, "code": "forbidden_role"}),
        ("钱军", {"method": "GET", "path": ACCESS_LOG, "code": "separation_of_duties"}),
    ]


def test_a_refused_trail_check_is_on_record(
    client: TestClient, sources: Sources, cast: dict[str, Person]
) -> None:
    for who, code in (("qianjun", "separation_of_duties"), ("zhangwei", "audit_forbidden")):
        assert_error(client.get(VERIFY, headers=cast[who].headers), 403, code)
    refused = [
        json.loads(e.filters) | {"who": e.operator_name} for e in stored(sources, "audit_refused")
    ]
    assert refused == [
        {"method": "GET", "path": VERIFY, "code": "separation_of_duties", "who": "钱军"},
        {"method": "GET", "path": VERIFY, "code": "audit_forbidden", "who": "张伟"},
    ]
    # Nothing was checked: no audit_verify entry.
    assert stored(sources, "audit_verify") == []


# --- 审计 does not administer ----------------------------------------------------------------


def test_an_auditor_cannot_manage_accounts(
    client: TestClient, sources: Sources, cast: dict[str, Person]
) -> None:
    auditor = cast["sunli"]
    answers = [
        client.get(ACCOUNTS, headers=auditor.headers),
        post(client, auditor, ACCOUNTS, new_account()),
        post(client, auditor, f"{ACCOUNTS}/zhangwei/disable"),
        post(client, auditor, f"{ACCOUNTS}/zhangwei/enable"),
    ]
    for response in answers:
        body = assert_error(response, 403, "separation_of_duties", case=response.url.path)
        assert "不能管理账号" in body["message"]
    assert account_row(sources, "xiaoming") is None
    zhangwei = account_row(sources, "zhangwei")
    assert zhangwei is not None
    assert not zhangwei.disabled
    assert [e.action for e in stored(sources, "account_add")] == []
    # Each attempt is on record, with what was tried.
    refused = [json.loads(e.filters) for e in stored(sources, "account_refused")]
    assert [(f["method"], f["path"], f["code"]) for f in refused] == [
        ("GET", ACCOUNTS, "separation_of_duties"),
        ("POST", ACCOUNTS, "separation_of_duties"),
        ("POST", f"{ACCOUNTS}/zhangwei/disable", "separation_of_duties"),
        ("POST", f"{ACCOUNTS}/zhangwei/enable", "separation_of_duties"),
    ]
    assert {e.operator_name for e in stored(sources, "account_refused")} == {"孙丽"}


def test_an_admin_cannot_make_or_unmake_an_auditor(
    client: TestClient, sources: Sources, cast: dict[str, Person]
) -> None:
    # Else a company's administrator could mint an auditor account and read their own acts.
    admin = cast["qianjun"]
    refused = post(client, admin, ACCOUNTS, new_account("fake_auditor", role="审计"))
    assert_error(refused, 403, "forbidden_role_grant")
    assert account_row(sources, "fake_auditor") is None
    assert_error(post(client, admin, f"{ACCOUNTS}/sunli/disable"), 403, "forbidden_role_grant")
    sunli = account_row(sources, "sunli")
    assert sunli is not None
    assert not sunli.disabled
    # The auditor sees both attempts, naming the account that was to be made or disabled.
    entries = [e for e in log_of(client, cast["sunli"]) if e["action"] == "account_refused"]
    assert [e["operatorName"] for e in entries] == ["钱军", "钱军"]
    disable, add = entries
    assert add["filters"] == {
        "method": "POST",
        "path": ACCOUNTS,
        "code": "forbidden_role_grant",
        "username": "fake_auditor",
        "role": "审计",
        "company": None,
    }
    assert disable["filters"]["path"] == f"{ACCOUNTS}/sunli/disable"
    assert disable["filters"]["username"] == "sunli"
    assert disable["rowCount"] == add["rowCount"] == 0
    # The installation's owner may.
    made = post(client, cast["root"], ACCOUNTS, new_account("auditor2", role="审计"))
    assert made.status_code == 201, made.text


# --- every administrative act is logged, and read by the other duty ---------------------------


def test_the_auditor_sees_the_admins_acts_with_who_and_when(
    client: TestClient, cast: dict[str, Person]
) -> None:
    admin = cast["qianjun"]
    start = datetime.now(UTC)
    assert post(client, admin, ACCOUNTS, new_account()).status_code == 201
    assert post(client, admin, f"{ACCOUNTS}/xiaoming/disable").status_code == 200
    assert post(client, admin, f"{ACCOUNTS}/xiaoming/enable").status_code == 200
    end = datetime.now(UTC)

    entries = [e for e in log_of(client, cast["sunli"]) if e["action"].startswith("account_")]
    assert [e["action"] for e in entries] == ["account_enable", "account_disable", "account_add"]
    enable, disable, add = entries
    for entry in entries:
        assert entry["operatorId"] == f"account:{admin.account_id}"
        assert entry["operatorName"] == "钱军"
        assert entry["role"] == "管理员"
        assert entry["company"] == COMPANY_A
        assert entry["clientAddr"] == "testclient"
        assert entry["requestId"]
        assert within(entry["occurredAt"], start, end), entry
    assert add["filters"] == {"username": "xiaoming", "role": "业务员", "company": COMPANY_A}
    assert disable["filters"] == enable["filters"] == {"username": "xiaoming"}


def test_a_system_admin_never_sees_their_own_entries(
    client: TestClient, sources: Sources, cast: dict[str, Person]
) -> None:
    root, admin = cast["root"], cast["qianjun"]
    assert post(client, root, ACCOUNTS, new_account("by_root")).status_code == 201
    fetch(client, root.headers, RECORDS)
    assert post(client, admin, ACCOUNTS, new_account("by_admin")).status_code == 201
    fetch(client, cast["zhangwei"].headers, RECORDS)
    log_of(client, cast["sunli"])

    seen = log_of(client, root)
    assert {e["operatorName"] for e in seen} == {"钱军", "张伟", "孙丽"}
    assert root.operator.operator_id not in {e["operatorId"] for e in seen}
    [added] = [e for e in seen if e["action"] == "account_add"]
    assert added["filters"]["username"] == "by_admin"
    # Paging by id leaves them out as well.
    first = fetch(client, root.headers, ACCESS_LOG, limit=1)
    second = fetch(client, root.headers, ACCESS_LOG, limit=1, beforeId=first["nextBeforeId"])
    for item in [*first["items"], *second["items"]]:
        assert item["operatorId"] != root.operator.operator_id

    # Hidden from them, not missing: their acts and reads are stored (and the auditor of
    # a company-wide scope would read them).
    mine = [e for e in stored(sources, "account_add") if e.operator_name == "赵总"]
    assert [json.loads(e.filters)["username"] for e in mine] == ["by_root"]
    reads_of_the_log = [e.operator_name for e in stored(sources, "access_log")]
    assert reads_of_the_log.count("赵总") == 3  # every read of the log, their own included


# --- the CLI --------------------------------------------------------------------------------


def test_cli_account_commands_are_logged_naming_the_os_account(
    client: TestClient, sources: Sources, settings: Settings, cast: dict[str, Person]
) -> None:
    start = datetime.now(UTC)
    added = run_cli(
        settings,
        *("account", "add", "clirep", "--password-stdin", "--role", "业务员"),
        *("--company", COMPANY_A, "--by", "王运维"),
        input=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert run_cli(settings, "account", "disable", "clirep").returncode == 0
    assert run_cli(settings, "account", "enable", "clirep", "--by", "王运维").returncode == 0
    refused = run_cli(settings, "account", "disable", "nobody")
    assert refused.returncode == 1
    assert "账号 nobody 不存在" in refused.stderr
    end = datetime.now(UTC)

    who = f"cli:{getpass.getuser()}@{socket.gethostname()}"
    entries = [e for e in log_of(client, cast["root"]) if e["operatorId"] == who]
    assert [e["action"] for e in entries] == ["account_enable", "account_disable", "account_add"]
    enable, disable, add = entries
    assert add["filters"] == {"username": "clirep", "role": "业务员", "company": COMPANY_A}
    assert disable["filters"] == enable["filters"] == {"username": "clirep"}
    assert [e["operatorName"] for e in entries] == ["王运维", getpass.getuser(), "王运维"]
    for entry in entries:
        assert entry["role"] == "CLI"
        assert within(entry["occurredAt"], start, end), entry
    # The refused command changed nothing and logged nothing.
    assert len(stored(sources, "account_disable")) == 1


# --- the rules ------------------------------------------------------------------------------


def worker_clock() -> ManualClock:
    return ManualClock(NOW.replace(tzinfo=UTC).timestamp() - 8 * 3600)


def rules_changes(client: TestClient, reader: Person) -> list[dict[str, Any]]:
    """``rules_changed`` entries as the reader sees them, oldest first."""
    return [e for e in reversed(log_of(client, reader)) if e["action"] == "rules_changed"]


def test_a_rules_file_change_is_logged_once_by_the_worker(
    client: TestClient,
    settings: Settings,
    sources: Sources,
    cast: dict[str, Person],
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(RULES.format(threshold=5), encoding="utf-8")
    configured = settings.model_copy(update={"alert_rules_file": path})
    digests = [hashlib.sha256(path.read_bytes()).hexdigest()]

    live = AlertWorker(configured, sources.wechat, clock=worker_clock())
    try:
        live.tick()  # the first rules this installation runs with: recorded
        live.tick()  # nothing changed: nothing more
        os.utime(path, (1, 1))  # touched, same content: nothing more
        live.tick()
        path.write_text(RULES.format(threshold=7), encoding="utf-8")
        os.utime(path, (2, 2))
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
        live.tick()  # picked up while running
        assert live.ruleset.rules[0].threshold == 7
    finally:
        live.shutdown()

    AlertWorker(configured, sources.wechat, clock=worker_clock()).run_once()  # a restart: same
    path.write_text(RULES.format(threshold=9), encoding="utf-8")  # edited while stopped
    digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    AlertWorker(configured, sources.wechat, clock=worker_clock()).run_once()

    changes = rules_changes(client, cast["root"])
    assert [e["filters"]["sha256"] for e in changes] == digests
    assert [e["filters"]["previousSha256"] for e in changes] == [None, *digests[:-1]]
    for entry in changes:
        assert entry["operatorId"] == f"system:{socket.gethostname()}:{path}"
        assert entry["operatorName"] == "告警规则文件 rules.toml"
        assert entry["occurredAt"] == "2026-11-27T15:00:00+08:00"  # the worker's clock
        assert entry["filters"]["path"] == str(path)
        assert entry["filters"]["rules"] == ["bulk-view"]
        assert entry["rowCount"] == 1

    # Back to the built-in rules is a change too; and the auditor has no way to change rules:
    # no endpoint takes them (the file is read only by the worker).
    AlertWorker(settings, sources.wechat, clock=worker_clock()).run_once()
    last = rules_changes(client, cast["root"])[-1]
    assert last["filters"]["path"] is None
    assert last["filters"]["previousSha256"] == digests[-1]
    assert last["operatorName"] == "内置告警规则"
    assert len(last["filters"]["rules"]) == last["rowCount"] > 0
    paths = client.get("/openapi.json").json()["paths"]
    assert any(path.startswith("/api/information-tracking/alerts") for path in paths)
    assert not [path for path in paths if "rule" in path.lower()]


def test_the_built_in_rules_of_a_fresh_install_are_nobodys_act(
    sources: Sources, settings: Settings
) -> None:
    AlertWorker(settings, sources.wechat, clock=worker_clock()).run_once()
    assert stored(sources, "rules_changed") == []


# --- the settings ---------------------------------------------------------------------------


def test_one_role_on_both_sides_is_refused_unless_named(tmp_path: Path) -> None:
    urls = {"wechat": "sqlite:///w.db", "primary": "sqlite:///p.db"}
    with pytest.raises(ValidationError) as refused:
        make_settings(urls, tmp_path, access_log_roles="管理员,审计,系统管理员")
    message = str(refused.value)
    assert "管理员" in message
    assert "职责分离" in message
    assert "INFOTRACK_DUAL_DUTY_ROLES" in message
    with pytest.raises(ValidationError):
        make_settings(urls, tmp_path, verify_audit_roles="管理员,审计")
    with pytest.raises(ValidationError):  # an auditor made account admin, the other way round
        make_settings(urls, tmp_path, account_admin_roles="管理员,审计,系统管理员")

    allowed = make_settings(
        urls,
        tmp_path,
        access_log_roles="管理员,审计,系统管理员",
        dual_duty_roles="管理员,系统管理员",
    )
    assert "管理员" in allowed.access_log_roles
    defaults = Settings(_env_file=None, secret_key=SECRET)
    assert defaults.access_log_roles == ["审计", "系统管理员"]
    assert defaults.account_admin_roles == ["管理员", "系统管理员"]
    assert defaults.verify_audit_roles == ["审计", "系统管理员"]
