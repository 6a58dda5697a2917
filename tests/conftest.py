"""Shared fixtures: real SQLite files and real MariaDB databases, the real app and CLI.

Every test that takes ``sources`` runs once per backend: ``sqlite`` always, ``mysql`` when a
server answers at ``INFOTRACK_TEST_MYSQL_URL`` (default ``mysql+pymysql://root@127.0.0.1:3306``).
Without one the MySQL runs skip with the reason, unless ``INFOTRACK_TEST_REQUIRE_MYSQL=1``
(set by ``.ci/run``), which turns a missing server into a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from infotrack.app import create_app
from infotrack.auth.service import AccountFields, add_account
from infotrack.config import Settings
from infotrack.db import Sources, session_scope
from infotrack.maintenance.schema import initialise

MYSQL_SERVER_URL = os.environ.get("INFOTRACK_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
REQUIRE_MYSQL = os.environ.get("INFOTRACK_TEST_REQUIRE_MYSQL") == "1"
SECRET = "test-secret-key-0123456789-abcdefghijklmnop"
AUDIT_KEY = "test-audit-key-kept-apart-from-the-database-0123456789"
PASSWORD = "s3cret-pass"


def _mysql_unavailable_reason() -> str | None:
    try:
        engine = create_engine(MYSQL_SERVER_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"no MySQL/MariaDB at {MYSQL_SERVER_URL} ({type(exc).__name__})"
    return None


@pytest.fixture(scope="session")
def mysql_server() -> str:
    """The server URL, or a skip (a failure in CI) when no server answers."""
    reason = _mysql_unavailable_reason()
    if reason:
        if REQUIRE_MYSQL:
            pytest.fail(f"MySQL tests are mandatory here: {reason}")
        pytest.skip(reason)
    return MYSQL_SERVER_URL


@dataclass
class MySQLDatabases:
    """Creates throw-away databases on the test server and drops them afterwards."""

    server_url: str
    created: list[str]

    def create(self, suffix: str) -> str:
        """A fresh empty database; its URL."""
        name = f"it_{uuid.uuid4().hex[:10]}_{suffix}"
        engine = create_engine(self.server_url)
        with engine.begin() as conn:
            conn.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            )
        engine.dispose()
        self.created.append(name)
        return str(make_url(self.server_url).set(database=name).render_as_string(False))

    def drop_all(self) -> None:
        """Drop every database this run created."""
        engine = create_engine(self.server_url)
        with engine.begin() as conn:
            for name in self.created:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        engine.dispose()


@pytest.fixture
def mysql_databases(mysql_server: str) -> Iterator[MySQLDatabases]:
    """Throw-away MariaDB databases for one test."""
    dbs = MySQLDatabases(mysql_server, [])
    yield dbs
    dbs.drop_all()


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def backend(request: pytest.FixtureRequest) -> str:
    """Which database kind this run of the test uses."""
    return str(request.param)


@pytest.fixture
def db_urls(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Empty wechat and primary databases of the chosen kind."""
    if backend == "sqlite":
        return {
            "wechat": f"sqlite:///{tmp_path / 'wechat.db'}",
            "primary": f"sqlite:///{tmp_path / 'primary.db'}",
        }
    dbs: MySQLDatabases = request.getfixturevalue("mysql_databases")
    return {"wechat": dbs.create("w"), "primary": dbs.create("p")}


def make_settings(urls: dict[str, str], data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test: explicit values only, no .env file, no developer environment."""
    values: dict[str, Any] = {
        "wechat_db_url": urls["wechat"],
        "primary_db_url": urls["primary"],
        "secret_key": SECRET,
        "audit_key": AUDIT_KEY,
        "data_dir": data_dir,
        "log_requests": False,
        "log_level": "WARNING",
        "alerts_in_process": False,  # tests that want the worker ask for it
        "audit_anchors_in_process": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(db_urls: dict[str, str], tmp_path: Path) -> Settings:
    """Test settings on the chosen backend."""
    return make_settings(db_urls, tmp_path)


@pytest.fixture
def sources(settings: Settings) -> Iterator[Sources]:
    """Both engines, with the schema initialised (as ``infotrack init`` does)."""
    srcs = Sources.from_settings(settings)
    initialise(srcs, settings)
    yield srcs
    srcs.dispose()


@pytest.fixture
def client(settings: Settings, sources: Sources) -> Iterator[TestClient]:
    """The real app, lifespan included (writer thread running)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def create_account(
    sources: Sources,
    settings: Settings,
    username: str = "zhangwei",
    password: str = PASSWORD,
    **fields: Any,
) -> int:
    """Add an account (defaults: a supply-side 业务员 of 华东贸易/销售一部); its id."""
    defaults: dict[str, Any] = {
        "company": "华东贸易有限公司",
        "department": "销售一部",
        "organization": "华东大区",
        "role": "业务员",
        "name": "张伟",
        "assistant": "李娜",
        "side": "supply",
    }
    defaults.update(fields)
    with session_scope(sources.wechat) as session:
        account = add_account(session, username, password, AccountFields(**defaults), settings.zone)
        return account.id


def add_user(sources: Sources, user_id: str, phone: str, name: str | None = None) -> None:
    """A customer in wechat ``users``."""
    with sources.wechat.begin() as conn:
        conn.execute(
            text("INSERT INTO users (userId, phoneNumber, nickName) VALUES (:i, :p, :n)"),
            {"i": user_id, "p": phone, "n": name},
        )


def add_contact(
    sources: Sources, phone: str, name: str | None = None, contact_id: int | None = None
) -> str:
    """A customer in primary ``contacts``; its id."""
    with sources.primary.begin() as conn:
        if contact_id is None:
            result = conn.execute(
                text("INSERT INTO contacts (phoneNumber, name) VALUES (:p, :n)"),
                {"p": phone, "n": name},
            )
            return str(result.lastrowid)
        conn.execute(
            text("INSERT INTO contacts (id, phoneNumber, name) VALUES (:i, :p, :n)"),
            {"i": contact_id, "p": phone, "n": name},
        )
        return str(contact_id)


def bearer(
    client: TestClient, username: str = "zhangwei", password: str = PASSWORD
) -> dict[str, str]:
    """Sign in and return the Authorization header (cookies cleared: bearer only)."""
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def count_records(sources: Sources) -> int:
    """Rows in informationtra."""
    with sources.wechat.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM informationtra")).scalar_one())


def cli_env(settings: Settings) -> dict[str, str]:
    """Environment that points the real ``infotrack`` command at the test databases."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFOTRACK_")}
    env.update(
        {
            "INFOTRACK_WECHAT_DB_URL": settings.wechat_db_url,
            "INFOTRACK_PRIMARY_DB_URL": settings.primary_db_url,
            "INFOTRACK_SECRET_KEY": settings.secret_key or SECRET,
            "INFOTRACK_AUDIT_KEY": settings.audit_key or AUDIT_KEY,
            "INFOTRACK_DATA_DIR": str(settings.data_dir),
            "INFOTRACK_LOG_REQUESTS": "false",
            "INFOTRACK_ALERTS_IN_PROCESS": "false",
            "INFOTRACK_AUDIT_ANCHORS_IN_PROCESS": "false",
            "COLUMNS": "200",
        }
    )
    return env


def run_cli(
    settings: Settings,
    *args: str,
    input: str | None = None,
    cwd: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``infotrack`` command (a subprocess) against the test databases."""
    return subprocess.run(
        [sys.executable, "-m", "infotrack", *args],
        input=input,
        capture_output=True,
        text=True,
        env=cli_env(settings) | (extra_env or {}),
        cwd=cwd or settings.data_dir,
        timeout=120,
        check=False,
    )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def run_server(
    settings: Settings, *, workers: int = 2, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """``infotrack serve`` as a real process on the test databases; its base URL."""
    port = free_port()
    env = {**cli_env(settings), **(extra_env or {})}
    # The server's log goes to a file: a pipe nobody reads would block the server once full,
    # and an unclosed one fails the test with a ResourceWarning.
    log_path = settings.data_dir / f"serve-{port}.log"
    command = [sys.executable, "-m", "infotrack", "serve", "--port", str(port)]
    with log_path.open("w", encoding="utf-8") as log_file:
        proc = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=env,
            cwd=settings.data_dir,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"server did not start: {log_path.read_text(encoding='utf-8')}")
        time.sleep(0.2)
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def served(settings: Settings, sources: Sources) -> Iterator[str]:
    """``infotrack serve --workers 2`` as a real process; its base URL."""
    with run_server(settings) as base:
        yield base
