"""An existing CRM database built from the seed's DDL verbatim, FK included, upgraded in place.

MariaDB only: the seed's DDL is MySQL, and only InnoDB enforces its cascading FK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from infotrack.app import create_app
from infotrack.db import Sources
from infotrack.maintenance.schema import find_cascade_fk
from infotrack.models import SEED_COLUMNS
from tests.conftest import (
    MySQLDatabases,
    add_contact,
    bearer,
    count_records,
    create_account,
    make_settings,
    run_cli,
)

pytestmark = pytest.mark.mysql

RECORD = "/api/information-tracking/record"

# The CRM's customer table (the seed does not show it; the FK needs userId as its key).
USERS_DDL = """
CREATE TABLE `users` (
  `userId` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
  `phoneNumber` varchar(20) DEFAULT NULL,
  `nickName` varchar(100) DEFAULT NULL,
  PRIMARY KEY (`userId`),
  KEY `idx_phoneNumber` (`phoneNumber`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
"""

CONTACTS_DDL = """
CREATE TABLE `contacts` (
  `id` bigint NOT NULL AUTO_INCREMENT,
  `name` varchar(100) DEFAULT NULL,
  `phoneNumber` varchar(20) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_phoneNumber` (`phoneNumber`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
"""

# Section 2.1 of the seed, verbatim.
SEED_DDL = """
CREATE TABLE `informationtra` (
  `id` int NOT NULL AUTO_INCREMENT COMMENT '主键ID',
  `tracompany` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT NULL COMMENT '修改者公司',
  `tradepartment` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT NULL COMMENT '修改者部门',
  `traorganization` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT NULL COMMENT '修改者组织',
  `trarole` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT NULL COMMENT '修改者角色',
  `trauserName` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT NULL COMMENT '修改者名字',
  `traassistant` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT NULL COMMENT '修改协助人',
  `userId` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL COMMENT '客户ID',
  `operationEvent` text CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci COMMENT '操作事件',
  `operationTime` datetime DEFAULT CURRENT_TIMESTAMP COMMENT '操作时间',
  `created_at` datetime DEFAULT CURRENT_TIMESTAMP COMMENT '创建时间',
  `updated_at` datetime DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT '更新时间',
  PRIMARY KEY (`id`),
  KEY `idx_userId` (`userId`),
  KEY `idx_operationTime` (`operationTime`),
  KEY `idx_trauserName` (`trauserName`),
  CONSTRAINT `fk_informationtra_userId` FOREIGN KEY (`userId`) REFERENCES `users` (`userId`) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='信息跟踪表';
"""  # noqa: E501

# The seed mapper's INSERT, as the CRM's own writer keeps issuing it.
SEED_INSERT = text(
    "INSERT INTO informationtra (tracompany, tradepartment, traorganization, trarole,"
    " trauserName, traassistant, userId, operationEvent, operationTime, created_at, updated_at)"
    " VALUES (:tracompany, :tradepartment, :traorganization, :trarole, :trauserName,"
    " :traassistant, :userId, :operationEvent, :operationTime, :created_at, :updated_at)"
)

OURS = ("event_type", "customer_source", "side", "operator_id", "request_id", "client_addr")


def crm_row(user_id: str, event: str, when: str) -> dict[str, Any]:
    """One row as the seed's Java service fills it in."""
    return {
        "tracompany": "华东贸易有限公司",
        "tradepartment": "销售一部",
        "traorganization": "华东大区",
        "trarole": "业务员",
        "trauserName": "王芳",
        "traassistant": None,
        "userId": user_id,
        "operationEvent": event,
        "operationTime": when,
        "created_at": when,
        "updated_at": when,
    }


def seed_rows(sources: Sources) -> list[tuple[Any, ...]]:
    """The seed columns of every row, in id order."""
    columns = ", ".join(f"`{c}`" for c in SEED_COLUMNS)
    with sources.wechat.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(text(f"SELECT {columns} FROM informationtra ORDER BY id"))
        ]


def record(client: TestClient, headers: dict[str, str], phone: str) -> Any:
    """POST one 查看客户详情 for this phone number."""
    return client.post(
        RECORD, json={"phoneNumber": phone, "operationEvent": "查看客户详情"}, headers=headers
    )


def test_seed_schema_is_upgraded_in_place_and_the_fk_is_explained(
    mysql_databases: MySQLDatabases, tmp_path: Path
) -> None:
    urls = {"wechat": mysql_databases.create("w"), "primary": mysql_databases.create("p")}
    settings = make_settings(urls, tmp_path)
    sources = Sources.from_settings(settings)
    try:
        with sources.wechat.begin() as conn:
            conn.execute(text(USERS_DDL))
            conn.execute(text(SEED_DDL))
            conn.execute(
                text("INSERT INTO users (userId, phoneNumber, nickName) VALUES (:i, :p, :n)"),
                [
                    {"i": "wx_1", "p": "13800138000", "n": "王小明"},
                    {"i": "wx_2", "p": "+8613700137000", "n": "刘总"},
                ],
            )
            conn.execute(
                SEED_INSERT,
                [
                    crm_row("wx_1", "查看客户详情", "2026-11-02 09:15:00"),
                    crm_row("wx_1", "修改客户信息", "2026-11-02 09:20:00"),
                    crm_row("wx_2", "更新客户跟进", "2026-11-03 16:05:00"),
                ],
            )
        with sources.primary.begin() as conn:
            conn.execute(text(CONTACTS_DDL))
        contact_id = add_contact(sources, "13900139000", "李雷")
        before = seed_rows(sources)

        # --- init: new columns, data untouched, the FK kept and explained -----------------
        result = run_cli(settings, "init")
        assert result.returncode == 0, result.stderr
        assert "created table" not in result.stdout
        assert "级联外键" in result.stderr
        assert "--drop-cascade-fk" in result.stderr
        assert seed_rows(sources) == before
        with sources.wechat.connect() as conn:
            nullable = dict(
                conn.execute(
                    text(
                        "SELECT COLUMN_NAME, IS_NULLABLE FROM information_schema.COLUMNS"
                        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'informationtra'"
                    )
                ).all()
            )
            assert {name: nullable.get(name) for name in (*OURS, "changes")} == dict.fromkeys(
                (*OURS, "changes"), "YES"
            )
            assert (
                conn.execute(
                    text("SELECT COUNT(*) FROM informationtra WHERE event_type IS NOT NULL")
                ).scalar_one()
                == 0
            )
        assert find_cascade_fk(sources.wechat, "users") == "fk_informationtra_userId"
        with sources.wechat.begin() as conn:  # the CRM's own writer keeps working
            conn.execute(SEED_INSERT, crm_row("wx_2", "查看客户详情", "2026-11-04 11:00:00"))
        crm_count = count_records(sources)
        assert crm_count == 4

        # --- while the FK stands: contacts-only customers get a clear 409 ------------------
        create_account(sources, settings)
        with TestClient(create_app(settings)) as client:
            headers = bearer(client)
            refused = record(client, headers, "139 0013 9000")
            assert refused.status_code == 409
            assert refused.json()["code"] == "cascade_fk_blocks_contact"
            assert refused.json()["success"] is False
            assert count_records(sources) == crm_count
            ok = record(client, headers, "8613700137000")
            assert ok.status_code == 200, ok.text
            assert ok.json()["data"]["userId"] == "wx_2"
        assert count_records(sources) == crm_count + 1

        doctor = run_cli(settings, "doctor")
        assert "Traceback" not in doctor.stdout + doctor.stderr
        assert "fk_informationtra_userId" in doctor.stdout
        assert "cascade_fk_blocks_contact" in doctor.stdout
        assert "--drop-cascade-fk" in doctor.stdout
        assert doctor.returncode == 0  # a warning: the service works, with that limit

        # --- asked explicitly: the FK goes, nothing else does ------------------------------
        dropped = run_cli(settings, "init", "--drop-cascade-fk")
        assert dropped.returncode == 0, dropped.stderr
        assert "dropped foreign key fk_informationtra_userId" in dropped.stdout
        assert find_cascade_fk(sources.wechat, "users") is None
        assert seed_rows(sources)[: len(before)] == before
        assert count_records(sources) == crm_count + 1

        # A new process learns the FK is gone (the app checks once, at start).
        with TestClient(create_app(settings)) as client:
            answer = record(client, bearer(client), "+86 139-0013-9000")
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"] == {
                "id": answer.json()["data"]["id"],
                "userId": contact_id,
                "source": "primary",
            }
        assert count_records(sources) == crm_count + 2
        assert "没有指向 users 的外键" in run_cli(settings, "doctor").stdout
    finally:
        sources.dispose()
