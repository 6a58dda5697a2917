"""``infotrack grants`` and append-only enforcement.

On MariaDB the printed statements are run as root, as a DBA would run them; then the
application account really cannot UPDATE or DELETE the trail, while the whole service (records,
logins, reads, the access log, accounts, alerts) works with it, and ``doctor`` tells an
application account that can rewrite the trail from one that cannot, however it was granted.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from infotrack.app import create_app
from infotrack.audit.grants import APP_TABLE_PRIVILEGES, probe_rewrites
from infotrack.config import Settings
from infotrack.db import Sources, metadata
from infotrack.maintenance.doctor import run_checks
from infotrack.maintenance.schema import VERSION_TABLE
from infotrack.models.informationtra import informationtra
from tests.alerts.conftest import BURST_RULES, write_rules
from tests.alerts.receiver import Receiver
from tests.conftest import (
    MySQLDatabases,
    add_user,
    bearer,
    create_account,
    make_settings,
    run_cli,
)

RECORD = "/api/information-tracking/record"
TABLE_ACCESS_DENIED = 1142


# --- helpers ------------------------------------------------------------------------------------
def statements(script: str) -> list[str]:
    """The SQL statements of ``grants``' output (one a line; comments and blanks dropped)."""
    return [line for line in script.splitlines() if line.strip() and not line.startswith("--")]


def configured_urls(script: str) -> dict[str, str]:
    """The ``-- INFOTRACK_…_DB_URL=…`` lines of the output, unquoted as a shell would."""
    urls = {}
    for line in script.splitlines():
        if line.startswith("-- INFOTRACK_") and "=" in line:
            name, value = line[3:].split("=", 1)
            [urls[name]] = shlex.split(value)
    return urls


def run_as_root(server_url: str, script: str) -> None:
    """Run the printed script with the mysql client, as a DBA would (or line by line)."""
    url = make_url(server_url)
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client:
        command = [
            client,
            "--protocol=TCP",
            f"--host={url.host or '127.0.0.1'}",
            f"--port={url.port or 3306}",
            f"--user={url.username or 'root'}",
            "--default-character-set=utf8mb4",
        ]
        env = {"MYSQL_PWD": url.password or "", "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            command, input=script, text=True, capture_output=True, env=env, check=False
        )
        assert done.returncode == 0, done.stderr
        return
    engine = create_engine(server_url)
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cursor:  # no parameters: a % in 'user'@'%' stays as it is
                for statement in statements(script):
                    cursor.execute(statement)
    finally:
        engine.dispose()


def errno(exc: DBAPIError) -> int:
    """The MySQL error number behind a failed statement."""
    return int(exc.orig.args[0])  # type: ignore[union-attr]


def refused(engine: Engine, statement: str) -> int | None:
    """The error number the statement is refused with, or None when it runs (rolled back)."""
    with engine.connect() as conn:
        try:
            with conn.begin() as tx:
                conn.execute(text(statement))
                tx.rollback()
        except DBAPIError as exc:
            return errno(exc)
    return None


@dataclass
class Provisioned:
    """Two databases initialised by root, and the accounts ``grants`` printed for them."""

    root: Settings  # root on both databases
    app: Settings  # the application account's URLs as printed; root as the migration URL
    migration_url: str  # the migration account's URL as printed
    app_user: str
    script: str  # what `grants` printed


@pytest.fixture(scope="module")
def provisioned(
    mysql_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provisioned]:
    """Fresh databases, ``init`` as root, the printed statements run as root; users dropped."""
    dbs = MySQLDatabases(mysql_server, [])
    tag = uuid.uuid4().hex[:8]
    app_user, migration_user = f"it_app_{tag}", f"it_mig_{tag}"
    data_dir = tmp_path_factory.mktemp("grants")
    try:
        urls = {"wechat": dbs.create("w"), "primary": dbs.create("p")}
        root = make_settings(urls, data_dir)
        init = run_cli(root, "init")
        assert init.returncode == 0, init.stderr
        printed = run_cli(
            root, "grants", "--app-user", app_user, "--migration-user", migration_user
        )
        assert printed.returncode == 0, printed.stderr
        run_as_root(mysql_server, printed.stdout)
        configured = configured_urls(printed.stdout)
        app = make_settings(
            {
                "wechat": configured["INFOTRACK_WECHAT_DB_URL"],
                "primary": configured["INFOTRACK_PRIMARY_DB_URL"],
            },
            data_dir,
            wechat_admin_db_url=root.wechat_db_url,
        )
        migration_url = configured["INFOTRACK_WECHAT_ADMIN_DB_URL"]
        yield Provisioned(root, app, migration_url, app_user, printed.stdout)
    finally:
        engine = create_engine(mysql_server)
        with engine.begin() as conn:
            for user in (app_user, migration_user):
                conn.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))
        engine.dispose()
        dbs.drop_all()


@pytest.fixture
def root_engine(provisioned: Provisioned) -> Iterator[Engine]:
    """Root on the wechat database."""
    engine = create_engine(provisioned.root.wechat_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def app_engine(provisioned: Provisioned) -> Iterator[Engine]:
    """The application account on the wechat database."""
    engine = create_engine(provisioned.app.wechat_db_url)
    yield engine
    engine.dispose()


def append_only_check(settings: Settings) -> tuple[str, str]:
    """Status and message of doctor's append-only check, run as ``settings``' account."""
    sources = Sources.from_settings(settings)
    try:
        [check] = [c for c in run_checks(sources, settings) if c.name == "只追加"]
    finally:
        sources.dispose()
    return check.status, check.message


# --- on MariaDB ---------------------------------------------------------------------------------
@pytest.mark.mysql
def test_the_app_account_cannot_rewrite_the_trail_or_the_access_log(
    provisioned: Provisioned, app_engine: Engine
) -> None:
    wechat = make_url(provisioned.app.wechat_db_url).database
    for statement in (
        "UPDATE informationtra SET operationEvent = 'forged' WHERE id > 0",
        "UPDATE informationtra SET id = id WHERE 1 = 0",
        "DELETE FROM informationtra WHERE id > 0",
        "TRUNCATE TABLE informationtra",
        "DROP TABLE informationtra",
        "ALTER TABLE informationtra ADD COLUMN forged INT",
        "UPDATE infotrack_access_log SET action = 'forged' WHERE id > 0",
        "DELETE FROM infotrack_access_log WHERE id > 0",
        "UPDATE infotrack_trail_chains SET key_id = 'forged' WHERE id > 0",
        "DELETE FROM infotrack_erasures WHERE id > 0",
        "INSERT INTO infotrack_archives (id) VALUES (1)",
        f"CREATE TABLE `{wechat}`.forged (id INT)",
    ):
        assert refused(app_engine, statement) == TABLE_ACCESS_DENIED, statement

    row = {
        "userId": "crm-1",
        "operationEvent": "查看客户详情",
        "tracompany": "某 CRM 公司",
        "trauserName": "CRM 直写",
    }
    with app_engine.begin() as conn:
        new_id = conn.execute(insert(informationtra).values(**row)).inserted_primary_key[0]
    with app_engine.connect() as conn:
        stored = conn.execute(
            select(informationtra.c.userId).where(informationtra.c.id == new_id)
        ).scalar_one()
    assert stored == "crm-1"

    rewrites = probe_rewrites(app_engine, "informationtra")
    assert not rewrites.possible
    migration = create_engine(provisioned.migration_url)  # archive deletes, erase updates
    try:
        assert probe_rewrites(migration, "informationtra").all_columns
        assert probe_rewrites(migration, "informationtra").deletable
    finally:
        migration.dispose()


@pytest.mark.mysql
def test_the_service_works_as_the_app_account(
    provisioned: Provisioned, root_engine: Engine, tmp_path: Path
) -> None:
    settings = provisioned.app
    root_sources = Sources.from_settings(provisioned.root)
    app_sources = Sources.from_settings(settings)
    tag = uuid.uuid4().hex[:6]
    seller, auditor, admin = f"s{tag}", f"a{tag}", f"m{tag}"
    try:
        add_user(root_sources, f"u-{tag}", "13800138000", "王小明")  # the CRM's own write
        create_account(app_sources, settings, seller)
        create_account(app_sources, settings, auditor, role="审计", name="审计员")
        create_account(app_sources, settings, admin, role="管理员", name="管理员")
    finally:
        root_sources.dispose()
        app_sources.dispose()

    with TestClient(create_app(settings)) as client:
        wrong = client.post("/api/auth/login", json={"username": seller, "password": "wrong"})
        assert wrong.status_code == 401  # a failure counter is written (throttle table)
        headers = bearer(client, seller)  # and cleared by the success
        for n in range(7):
            answer = client.post(
                f"{RECORD}?isSupplySide=true",
                json={"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
                headers=headers,
            )
            assert answer.status_code == 200, (n, answer.text)
            assert answer.json()["success"] is True
        batch = client.post(
            f"{RECORD}/batch?isSupplySide=true",
            json={"events": [{"phoneNumber": "13800138000", "operationEvent": "更新客户跟进"}]},
            headers=headers,
        )
        assert batch.status_code == 200, batch.text
        history = client.get(
            "/api/information-tracking/records", params={"userId": f"u-{tag}"}, headers=headers
        )
        assert history.status_code == 200, history.text
        assert len(history.json()["data"]["items"]) == 8

        log = client.get("/api/information-tracking/access-log", headers=bearer(client, auditor))
        assert log.status_code == 200, log.text
        assert any(e["operatorName"] == "张伟" for e in log.json()["data"]["items"])

        admin_headers = bearer(client, admin)
        disabled = client.post(f"/api/accounts/{seller}/disable", headers=admin_headers)
        assert disabled.status_code == 200, disabled.text

        with Receiver() as receiver:
            rules = write_rules(
                tmp_path / "rules.toml", BURST_RULES.format(url=receiver.url("/hook"))
            )
            worker = run_cli(
                settings,
                "alerts",
                "run",
                "--once",
                extra_env={"INFOTRACK_ALERT_RULES_FILE": str(rules)},
            )
            assert worker.returncode == 0, worker.stdout + worker.stderr
            assert "产生 1 条告警" in worker.stdout, worker.stdout
            receiver.wait_for(1)
        alerts = client.get("/api/information-tracking/alerts", headers=admin_headers)
        assert alerts.status_code == 200, alerts.text
        [alert] = alerts.json()["data"]["items"]
        acked = client.post(
            f"/api/information-tracking/alerts/{alert['id']}/ack",
            json={"comment": "已核实"},
            headers=admin_headers,
        )
        assert acked.status_code == 200, acked.text

    with root_engine.connect() as conn:
        chained = conn.execute(
            text(
                "SELECT COUNT(*) FROM informationtra WHERE userId = :u AND chain_hash IS NOT NULL"
            ),
            {"u": f"u-{tag}"},
        ).scalar_one()
    assert chained == 8  # every row the app account appended is chained


@pytest.mark.mysql
def test_the_fast_append_path_needs_no_update_privilege(
    provisioned: Provisioned, caplog: pytest.LogCaptureFixture
) -> None:
    settings = provisioned.app
    sources = Sources.from_settings(settings)
    tag = uuid.uuid4().hex[:6]
    try:
        create_account(sources, settings, f"f{tag}")
    finally:
        sources.dispose()
    root_sources = Sources.from_settings(provisioned.root)
    try:
        add_user(root_sources, f"f-{tag}", "13900139000")
    finally:
        root_sources.dispose()
    with TestClient(create_app(settings)) as client:
        headers = bearer(client, f"f{tag}")
        with caplog.at_level(logging.INFO, logger="infotrack.tracking.recorder"):
            answer = client.post(
                f"{RECORD}?isSupplySide=true",
                json={"phoneNumber": "13900139000", "operationEvent": "查看客户详情"},
                headers=headers,
            )
    assert answer.status_code == 200, answer.text
    assert "fell back" not in caplog.text


@pytest.mark.mysql
def test_doctor_reports_enforcement_as_the_app_account_and_warns_as_root(
    provisioned: Provisioned,
) -> None:
    admin_env = {"INFOTRACK_WECHAT_ADMIN_DB_URL": provisioned.migration_url}
    as_app = run_cli(provisioned.app, "doctor", extra_env=admin_env)

    assert as_app.returncode == 0, as_app.stdout + as_app.stderr
    assert "只追加由数据库强制执行" in as_app.stdout
    assert provisioned.app_user in as_app.stdout
    assert "警告" not in as_app.stdout, as_app.stdout  # every other check passes as the app too
    assert "INFOTRACK_WECHAT_ADMIN_DB_URL(" in as_app.stdout  # the migration account connects

    wrong = make_url(provisioned.migration_url).set(password="wrong-password")
    bad_admin = provisioned.app.model_copy(
        update={"wechat_admin_db_url": wrong.render_as_string(hide_password=False)}
    )
    sources = Sources.from_settings(bad_admin)
    try:
        [check] = [c for c in run_checks(sources, bad_admin) if c.name == "迁移账号"]
    finally:
        sources.dispose()
    assert check.status == "fail"
    assert "wrong-password" not in check.message
    assert "Access denied" in check.message

    as_root = run_cli(provisioned.root, "doctor")

    assert as_root.returncode == 0  # a warning, not a failure
    line = next(line for line in as_root.stdout.splitlines() if "只追加" in line)
    assert "警告" in line
    rewrites = "UPDATE informationtra、DELETE informationtra;UPDATE infotrack_access_log"
    assert f"应用账号 root 可以 {rewrites}" in line
    assert "infotrack grants" in as_root.stdout


@pytest.mark.mysql
@pytest.mark.parametrize(
    ("grant", "revoke", "expected"),
    [
        (
            "GRANT UPDATE ON {db}.informationtra TO {app}",
            "REVOKE UPDATE ON {db}.informationtra FROM {app}",
            "UPDATE informationtra",
        ),
        (
            "GRANT UPDATE (operationEvent) ON {db}.informationtra TO {app}",
            "REVOKE UPDATE (operationEvent) ON {db}.informationtra FROM {app}",
            "UPDATE informationtra 的列 operationEvent",
        ),
        (
            "GRANT DELETE ON {db}.* TO {app}",
            "REVOKE DELETE ON {db}.* FROM {app}",
            "DELETE informationtra;DELETE infotrack_access_log",
        ),
        (
            "GRANT DELETE ON *.* TO {app}",
            "REVOKE DELETE ON *.* FROM {app}",
            "DELETE informationtra",
        ),
        (
            "CREATE ROLE {role}; GRANT UPDATE ON {db}.infotrack_access_log TO {role}; "
            "GRANT {role} TO {app}; SET DEFAULT ROLE {role} FOR {app}",
            "SET DEFAULT ROLE NONE FOR {app}; DROP ROLE {role}",
            "UPDATE infotrack_access_log",
        ),
    ],
    ids=["table", "column", "database", "global", "role"],
)
def test_doctor_finds_rewrites_however_they_are_granted(
    provisioned: Provisioned, root_engine: Engine, grant: str, revoke: str, expected: str
) -> None:
    names = {
        "db": f"`{make_url(provisioned.app.wechat_db_url).database}`",
        "app": f"'{provisioned.app_user}'@'%'",
        "role": f"it_role_{uuid.uuid4().hex[:8]}",
    }

    def run(statements: str) -> None:
        with root_engine.begin() as conn:
            for statement in statements.format(**names).split("; "):
                conn.execute(text(statement))

    assert append_only_check(provisioned.app)[0] == "ok"
    run(grant)
    try:
        status, message = append_only_check(provisioned.app)
    finally:
        run(revoke)
    assert status == "warn"
    assert expected in message
    assert append_only_check(provisioned.app)[0] == "ok"


@pytest.mark.mysql
def test_running_the_statements_again_takes_back_what_was_granted_beyond_them(
    provisioned: Provisioned, root_engine: Engine, mysql_server: str
) -> None:
    database = make_url(provisioned.app.wechat_db_url).database
    with root_engine.begin() as conn:  # someone "fixed" a permission problem the broad way
        conn.execute(text(f"GRANT ALL ON `{database}`.* TO '{provisioned.app_user}'@'%'"))
    assert append_only_check(provisioned.app)[0] == "warn"

    run_as_root(mysql_server, provisioned.script)

    assert append_only_check(provisioned.app)[0] == "ok"
    app = create_engine(provisioned.app.wechat_db_url)  # same password: the URL still works
    try:
        with app.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM informationtra")).scalar_one() >= 0
    finally:
        app.dispose()


@pytest.mark.mysql
def test_init_changes_the_schema_as_the_migration_account(
    provisioned: Provisioned, mysql_databases: MySQLDatabases, root_engine: Engine
) -> None:
    fresh = {"wechat": mysql_databases.create("w"), "primary": mysql_databases.create("p")}
    fresh_db = make_url(fresh["wechat"]).database
    app_url = make_url(provisioned.app.wechat_db_url).set(database=fresh_db)
    with root_engine.begin() as conn:  # the app account may read the new database, no more
        conn.execute(text(f"GRANT SELECT ON `{fresh_db}`.* TO '{provisioned.app_user}'@'%'"))
    settings = make_settings(
        {"wechat": app_url.render_as_string(hide_password=False), "primary": fresh["primary"]},
        provisioned.app.data_dir,
    )

    as_app = run_cli(settings, "init")

    assert as_app.returncode == 1
    assert "CREATE command denied" in as_app.stderr, as_app.stderr

    as_migration = run_cli(
        settings,
        "init",
        extra_env={"INFOTRACK_WECHAT_ADMIN_DB_URL": fresh["wechat"]},  # root, there
    )

    assert as_migration.returncode == 0, as_migration.stderr
    assert "schema migrated (empty)" in as_migration.stdout
    printed_account = run_cli(
        provisioned.app,
        "init",
        extra_env={"INFOTRACK_WECHAT_ADMIN_DB_URL": provisioned.migration_url},
    )
    assert printed_account.returncode == 0, printed_account.stderr
    assert "schema up to date" in printed_account.stdout


# --- the printed statements, without a server -------------------------------------------------
def mysql_settings(tmp_path: Path, wechat: str, primary: str) -> Settings:
    """Settings naming MySQL databases (``grants`` only reads the URLs)."""
    return make_settings({"wechat": wechat, "primary": primary}, tmp_path)


def test_every_table_infotrack_creates_is_granted() -> None:
    import infotrack.models  # noqa: F401  (registers every table on the metadata)

    assert set(metadata.tables) <= set(APP_TABLE_PRIVILEGES)
    assert set(APP_TABLE_PRIVILEGES) - set(metadata.tables) == {VERSION_TABLE}


def test_names_and_passwords_are_quoted_and_each_server_gets_its_own(tmp_path: Path) -> None:
    settings = mysql_settings(
        tmp_path,
        "mysql+pymysql://crm:old@db1.example:3306/we`chat?charset=utf8mb4",
        "mysql://crm:old@db2.example/crm's",
    )
    env = {"INFOTRACK_APP_DB_PASSWORD": "it's a p@ss:/", "INFOTRACK_MIGRATION_DB_PASSWORD": "m;%"}

    result = run_cli(settings, "grants", "--host", "10.0.0.%", extra_env=env)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    sql = statements(out)
    app, migration = "'infotrack_app'@'10.0.0.%'", "'infotrack_admin'@'10.0.0.%'"
    assert f"CREATE USER IF NOT EXISTS {app} IDENTIFIED BY 'it''s a p@ss:/';" in sql
    assert f"ALTER USER {migration} IDENTIFIED BY 'm;%';" in sql
    assert f"GRANT SELECT, INSERT ON `we``chat`.`informationtra` TO {app};" in sql
    assert f"GRANT SELECT ON `we``chat`.`users` TO {app};" in sql
    assert f"GRANT ALL PRIVILEGES ON `we``chat`.* TO {migration};" in sql
    assert not any("UPDATE" in s or "DELETE" in s for s in sql if "`informationtra`" in s)
    first, second = out.split("-- ==== 在服务器 db2.example:3306 上执行 ====")
    assert "`crm's`" not in first
    assert statements(second) == [  # the CRM's other server: the app account reads contacts
        f"CREATE USER IF NOT EXISTS {app} IDENTIFIED BY 'it''s a p@ss:/';",
        f"ALTER USER {app} IDENTIFIED BY 'it''s a p@ss:/';",
        f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {app};",
        f"GRANT SELECT ON `crm's`.`contacts` TO {app};",
    ]
    urls = {name: make_url(url) for name, url in configured_urls(out).items()}
    assert (urls["INFOTRACK_WECHAT_DB_URL"].username, urls["INFOTRACK_WECHAT_DB_URL"].password) == (
        "infotrack_app",
        "it's a p@ss:/",
    )
    assert urls["INFOTRACK_WECHAT_DB_URL"].database == "we`chat"
    assert urls["INFOTRACK_WECHAT_DB_URL"].query == {"charset": "utf8mb4"}
    assert urls["INFOTRACK_PRIMARY_DB_URL"].host == "db2.example"
    assert urls["INFOTRACK_PRIMARY_DB_URL"].username == "infotrack_app"
    assert urls["INFOTRACK_WECHAT_ADMIN_DB_URL"].password == "m;%"
    assert "已生成随机密码" not in out


def test_passwords_are_generated_fresh_when_not_given(tmp_path: Path) -> None:
    settings = mysql_settings(tmp_path, "mysql://crm@db.example/crm", "mysql://crm@db.example/crm")

    first, second = run_cli(settings, "grants"), run_cli(settings, "grants")

    assert first.returncode == second.returncode == 0, first.stderr
    assert "已生成随机密码" in first.stdout
    passwords = [
        {make_url(url).password for url in configured_urls(run.stdout).values()}
        for run in (first, second)
    ]
    assert all(len(p) == 2 for p in passwords)  # the app's and the migration account's
    assert not passwords[0] & passwords[1]
    assert all(len(p or "") >= 32 for p in passwords[0])
    sql = statements(first.stdout)
    assert sum(s.startswith("CREATE USER") for s in sql) == 2  # one server, one database
    assert "GRANT SELECT ON `crm`.`contacts` TO 'infotrack_app'@'%';" in sql


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"INFOTRACK_APP_DB_PASSWORD": "back\\slash"}, "反斜杠"),
        (("--migration-user", "infotrack_app"), {}, "必须不同"),
        (("--app-user", "x" * 33), {}, "长度"),
    ],
    ids=["backslash", "same-user", "too-long"],
)
def test_unsafe_input_is_refused(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    settings = mysql_settings(tmp_path, "mysql://crm@db/crm", "mysql://crm@db/crm")

    result = run_cli(settings, "grants", *args, extra_env=env)

    assert result.returncode == 1
    assert "错误" in result.stderr
    assert message in result.stderr
    assert result.stdout == ""


def test_postgresql_is_refused_clearly(tmp_path: Path) -> None:
    settings = mysql_settings(tmp_path, "postgresql://crm@db/crm", "postgresql://crm@db/crm")

    result = run_cli(settings, "grants")

    assert result.returncode == 1
    assert "只支持 MySQL/MariaDB" in result.stderr
    assert "Traceback" not in result.stderr


def test_sqlite_explains_that_file_permissions_govern(tmp_path: Path) -> None:
    settings = make_settings(
        {"wechat": f"sqlite:///{tmp_path / 'w.db'}", "primary": f"sqlite:///{tmp_path / 'p.db'}"},
        tmp_path,
    )

    result = run_cli(settings, "grants")

    assert result.returncode == 0, result.stderr
    assert statements(result.stdout) == []  # comments only: harmless wherever it is piped
    assert "SQLite 没有数据库账号" in result.stdout
    assert str(tmp_path / "w.db") in result.stdout
    assert "文件系统权限" in result.stdout
    assert "infotrack verify" in result.stdout
