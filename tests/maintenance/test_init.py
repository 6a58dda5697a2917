"""``infotrack init`` through the real CLI: fresh databases, re-runs, SQLite's FK limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, create_engine, inspect, text
from sqlalchemy.engine import make_url

from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.maintenance.schema import find_cascade_fk
from tests.conftest import (
    MySQLDatabases,
    add_contact,
    add_user,
    create_account,
    make_settings,
    run_cli,
)

OUR_TABLES = {"informationtra", "infotrack_accounts", "infotrack_login_throttle"}


def snapshot(sources: Sources) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a re-run must leave alone, in key order."""
    tables = {
        "users": (sources.wechat, "userId"),
        "informationtra": (sources.wechat, "id"),
        "infotrack_accounts": (sources.wechat, "id"),
        "contacts": (sources.primary, "id"),
    }
    rows = {}
    for name, (engine, key) in tables.items():
        with engine.connect() as conn:
            rows[name] = [
                tuple(r) for r in conn.execute(text(f"SELECT * FROM {name} ORDER BY {key}"))
            ]
    return rows


def test_init_creates_everything_then_changes_nothing(settings: Settings) -> None:
    first = run_cli(settings, "init")
    assert first.returncode == 0, first.stderr
    assert "created table users" in first.stdout
    assert "created table contacts" in first.stdout

    sources = Sources.from_settings(settings)
    try:
        assert {"users", *OUR_TABLES} <= set(inspect(sources.wechat).get_table_names())
        assert "contacts" in inspect(sources.primary).get_table_names()
        add_user(sources, "wx_1", "13800138000", "王小明")
        add_contact(sources, "13900139000", "李雷")
        create_account(sources, settings)
        with sources.wechat.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO informationtra"
                    " (trauserName, userId, operationEvent, operationTime)"
                    " VALUES ('张伟', 'wx_1', '查看客户详情', '2026-11-20 10:00:00')"
                )
            )
        before = snapshot(sources)

        second = run_cli(settings, "init")
        assert second.returncode == 0, second.stderr
        assert "created table" not in second.stdout
        assert "schema up to date" in second.stdout
        assert snapshot(sources) == before
    finally:
        sources.dispose()


@pytest.mark.mysql
def test_mysql_tables_use_the_seeds_collation(
    mysql_databases: MySQLDatabases, tmp_path: Path
) -> None:
    urls = {"wechat": mysql_databases.create("w"), "primary": mysql_databases.create("p")}
    names = [make_url(url).database for url in urls.values()]
    # Databases whose default is something else: the tables must say utf8mb4 themselves.
    server = create_engine(mysql_databases.server_url)
    with server.begin() as conn:
        for name in names:
            conn.execute(
                text(f"ALTER DATABASE `{name}` CHARACTER SET latin1 COLLATE latin1_swedish_ci")
            )
    settings = make_settings(urls, tmp_path)

    result = run_cli(settings, "init")
    assert result.returncode == 0, result.stderr

    with server.connect() as conn:
        collations = dict(
            conn.execute(
                text(
                    "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES"
                    " WHERE TABLE_SCHEMA IN :names AND TABLE_NAME <> 'infotrack_alembic_version'"
                ).bindparams(bindparam("names", expanding=True)),
                {"names": names},
            ).all()
        )
        column_charsets = (
            conn.execute(
                text(
                    "SELECT DISTINCT CHARACTER_SET_NAME FROM information_schema.COLUMNS"
                    " WHERE TABLE_SCHEMA IN :names AND CHARACTER_SET_NAME IS NOT NULL"
                    " AND TABLE_NAME <> 'infotrack_alembic_version'"
                ).bindparams(bindparam("names", expanding=True)),
                {"names": names},
            )
            .scalars()
            .all()
        )
    server.dispose()
    assert {"users", "contacts", *OUR_TABLES} <= set(collations)
    assert set(collations.values()) == {"utf8mb4_unicode_ci"}
    assert set(column_charsets) == {"utf8mb4"}  # no column fell back to latin1


def test_sqlite_refuses_to_drop_the_fk_clearly(tmp_path: Path) -> None:
    urls = {
        "wechat": f"sqlite:///{tmp_path / 'wechat.db'}",
        "primary": f"sqlite:///{tmp_path / 'primary.db'}",
    }
    settings = make_settings(urls, tmp_path)
    sources = Sources.from_settings(settings)
    try:
        with sources.wechat.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE users (userId VARCHAR(100) PRIMARY KEY, phoneNumber VARCHAR(32))"
                )
            )
            conn.execute(
                text(
                    "CREATE TABLE informationtra (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                    " tracompany VARCHAR(255), tradepartment VARCHAR(255),"
                    " traorganization VARCHAR(255), trarole VARCHAR(255),"
                    " trauserName VARCHAR(100), traassistant VARCHAR(100),"
                    " userId VARCHAR(100) NOT NULL"
                    " REFERENCES users (userId) ON DELETE CASCADE ON UPDATE CASCADE,"
                    " operationEvent TEXT, operationTime DATETIME DEFAULT CURRENT_TIMESTAMP,"
                    " created_at DATETIME DEFAULT CURRENT_TIMESTAMP,"
                    " updated_at DATETIME DEFAULT CURRENT_TIMESTAMP)"
                )
            )

        result = run_cli(settings, "init", "--drop-cascade-fk")

        assert result.returncode == 1
        assert "SQLite 无法原地删除外键" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert find_cascade_fk(sources.wechat, "users") is not None  # nothing dropped silently
    finally:
        sources.dispose()


def test_init_with_an_unreachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    urls = {
        "wechat": "mysql+pymysql://root@127.0.0.1:1/wechat",
        "primary": f"sqlite:///{tmp_path / 'primary.db'}",
    }
    result = run_cli(make_settings(urls, tmp_path), "init")

    assert result.returncode == 1
    assert "数据库错误" in result.stderr
    assert "Can't connect" in result.stderr
    assert "infotrack doctor" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
