"""``infotrack grants``: least-privilege MySQL accounts, so append-only is the database's rule.

Two accounts. The *application* account runs the service (``serve``, the alert worker, the
anchorer): on ``informationtra`` and the access log it may only INSERT and SELECT, so whoever
gets hold of its password still cannot rewrite the trail or who-read-what. The *migration*
account runs the operator's commands that legitimately change the schema or the trail
(``init``, ``archive`` deletes rows, ``erase`` updates them) and is configured as
``INFOTRACK_WECHAT_ADMIN_DB_URL``; the service never holds its password.

No triggers: MySQL-compatible distributed engines (TiDB) do not run them; privileges they do
enforce. A DBA with root can still edit anything: that is what the chain and anchors detect.

The command only prints SQL (one statement per line) for a DBA to run after ``infotrack init``:
table-level grants need the tables to exist.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError

from infotrack.config import Settings, get_settings
from infotrack.errors import ConfigError
from infotrack.logs import configure_logging
from infotrack.maintenance.schema import VERSION_TABLE

APP_PASSWORD_ENV = "INFOTRACK_APP_DB_PASSWORD"
MIGRATION_PASSWORD_ENV = "INFOTRACK_MIGRATION_DB_PASSWORD"

# What the application account may do to each of our tables in the wechat database. Every
# table infotrack creates must be listed (a test holds the list to the metadata): a table
# missing here would make the service fail under these grants.
APP_TABLE_PRIVILEGES: dict[str, tuple[str, ...]] = {
    # The trail and who-read-what: appended and read, never rewritten.
    "informationtra": ("SELECT", "INSERT"),
    "infotrack_access_log": ("SELECT", "INSERT"),
    # Tamper evidence: each writer registers its chain; the anchorer appends checkpoints.
    "infotrack_trail_chains": ("SELECT", "INSERT"),
    "infotrack_audit_anchors": ("SELECT", "INSERT"),
    # Ledgers: written by `erase` and `archive` as the migration account, verified by all.
    "infotrack_erasures": ("SELECT",),
    "infotrack_erased_rows": ("SELECT",),
    "infotrack_archives": ("SELECT",),
    # Accounts are added, disabled and enabled again (API and CLI); never deleted.
    "infotrack_accounts": ("SELECT", "INSERT", "UPDATE"),
    # Login failure counters: cleared on success, forgotten once their window has passed.
    "infotrack_login_throttle": ("SELECT", "INSERT", "UPDATE", "DELETE"),
    # Alerts are raised by the worker, then acknowledged and resolved by people.
    "infotrack_alerts": ("SELECT", "INSERT", "UPDATE"),
    # The notification outbox (queued, then marked sent or failed) and its log of attempts.
    "infotrack_alert_deliveries": ("SELECT", "INSERT", "UPDATE"),
    "infotrack_delivery_attempts": ("SELECT", "INSERT"),
    # The alert worker's lease and checkpoint.
    "infotrack_worker_state": ("SELECT", "INSERT", "UPDATE"),
    # The schema version: `doctor` and `demo` read it to tell whether `init` is due.
    VERSION_TABLE: ("SELECT",),
}
# The CRM's customer tables (names from the settings): looked up, never written.
CUSTOMER_PRIVILEGES = ("SELECT",)

# Sized for humans to copy: 32 URL-safe characters, 192 bits.
_GENERATED_BYTES = 24
_MYSQL_BACKENDS = ("mysql", "mariadb")
_MAX_USER_LENGTH = 32  # MySQL's limit (MariaDB allows 80)
_UNSAFE_LITERAL = re.compile(r"[\\\x00-\x1f\x7f]")


# --- quoting --------------------------------------------------------------------------------
def quote_identifier(name: str) -> str:
    """A MySQL identifier in backticks (a backtick inside is doubled)."""
    if not name or "\x00" in name:
        raise ConfigError(f"无效的数据库对象名 {name!r}")
    return "`" + name.replace("`", "``") + "`"


def quote_string(value: str, what: str) -> str:
    """A MySQL string literal in single quotes (a quote inside is doubled).

    Backslashes and control characters are refused rather than escaped: what ``\\`` means in
    a literal depends on the server's sql_mode (NO_BACKSLASH_ESCAPES), so no spelling of it
    is right everywhere.
    """
    if _UNSAFE_LITERAL.search(value):
        raise ConfigError(f"{what}不能包含反斜杠或控制字符:它们在 MySQL 中的含义取决于 sql_mode")
    return "'" + value.replace("'", "''") + "'"


def account(user: str, host: str) -> str:
    """``'user'@'host'`` as MySQL's account statements take it."""
    return f"{quote_string(user, '账号名')}@{quote_string(host, '主机')}"


# --- what to grant --------------------------------------------------------------------------
@dataclass(frozen=True)
class Database:
    """One of the two configured databases."""

    source: str  # wechat | primary
    url: URL

    @property
    def backend(self) -> str:
        """The database kind (sqlite, mysql, mariadb, postgresql...)."""
        return self.url.get_backend_name()

    @property
    def server(self) -> tuple[str, int]:
        """Where it lives: the statements for one server are run there, together."""
        return (self.url.host or "localhost", self.url.port or 3306)

    @property
    def name(self) -> str:
        """The database (schema) name the URL selects."""
        if not self.url.database:
            raise ConfigError(
                f"INFOTRACK_{self.source.upper()}_DB_URL 中没有数据库名:"
                "授权语句需要知道 infotrack 使用哪个库"
            )
        return self.url.database


@dataclass(frozen=True)
class TableGrant:
    """Privileges on one table."""

    server: tuple[str, int]
    database: str
    table: str
    privileges: tuple[str, ...]

    def statement(self, grantee: str) -> str:
        """The GRANT statement, one line."""
        target = f"{quote_identifier(self.database)}.{quote_identifier(self.table)}"
        return f"GRANT {', '.join(self.privileges)} ON {target} TO {grantee};"


def databases(settings: Settings) -> tuple[Database, Database]:
    """The wechat and primary databases as configured."""
    return (
        Database("wechat", make_url(settings.wechat_db_url)),
        Database("primary", make_url(settings.primary_db_url)),
    )


def app_grants(settings: Settings, wechat: Database, primary: Database) -> list[TableGrant]:
    """Every table privilege the application account needs, on MySQL databases."""
    grants: list[TableGrant] = []
    if wechat.backend in _MYSQL_BACKENDS:
        for table, privileges in APP_TABLE_PRIVILEGES.items():
            grants.append(TableGrant(wechat.server, wechat.name, table, privileges))
        users = settings.users_table
        grants.append(TableGrant(wechat.server, wechat.name, users, CUSTOMER_PRIVILEGES))
    if primary.backend in _MYSQL_BACKENDS:
        contacts = settings.contacts_table
        grant = TableGrant(primary.server, primary.name, contacts, CUSTOMER_PRIVILEGES)
        if grant not in grants:  # both sources in one database, contacts named like users
            grants.append(grant)
    return grants


@dataclass(frozen=True)
class Accounts:
    """The two accounts' names, the host part and their passwords."""

    app_user: str
    migration_user: str
    host: str
    app_password: str
    migration_password: str
    generated: tuple[str, ...]  # the environment variables that were not set

    @classmethod
    def from_environment(cls, app_user: str, migration_user: str, host: str) -> Accounts:
        """Passwords from the environment, else freshly generated strong ones."""
        for user in (app_user, migration_user):
            if not 0 < len(user) <= _MAX_USER_LENGTH:
                raise ConfigError(f"账号名 {user!r} 的长度须为 1–{_MAX_USER_LENGTH} 个字符")
        if not host:
            raise ConfigError("--host 不能为空(任意主机请用 %)")
        if app_user == migration_user:
            raise ConfigError("应用账号与迁移账号必须不同:只追加靠的就是应用账号没有改写权限")
        generated = []
        passwords = []
        for env in (APP_PASSWORD_ENV, MIGRATION_PASSWORD_ENV):
            value = os.environ.get(env)
            if not value:
                value = secrets.token_urlsafe(_GENERATED_BYTES)
                generated.append(env)
            passwords.append(value)
        if passwords[0] == passwords[1]:
            raise ConfigError(f"{APP_PASSWORD_ENV} 与 {MIGRATION_PASSWORD_ENV} 不能相同")
        return cls(app_user, migration_user, host, passwords[0], passwords[1], tuple(generated))


# --- the script -----------------------------------------------------------------------------
def render(settings: Settings, accounts: Accounts) -> str:
    """The whole output: SQL statements, one a line, with ``--`` comments (valid SQL)."""
    wechat, primary = databases(settings)
    for db in (wechat, primary):
        if db.backend not in (*_MYSQL_BACKENDS, "sqlite"):
            raise ConfigError(
                f"infotrack grants 只支持 MySQL/MariaDB 和 SQLite(INFOTRACK_{db.source.upper()}"
                f"_DB_URL 是 {db.backend}):请手工授权,应用账号对 informationtra 和 "
                "infotrack_access_log 只授予 INSERT 和 SELECT"
            )
    mysql = [db for db in (wechat, primary) if db.backend in _MYSQL_BACKENDS]
    lines = list(_sqlite_notes(wechat, primary))
    if not mysql:
        return "\n".join(lines) + "\n"
    migrating = wechat in mysql  # the migration account works where our tables live
    lines += _header(accounts, migrating=migrating)
    grants = app_grants(settings, wechat, primary)
    app = account(accounts.app_user, accounts.host)
    for server in dict.fromkeys(db.server for db in mysql):
        lines += ["", f"-- ==== 在服务器 {server[0]}:{server[1]} 上执行 ===="]
        lines += _account(accounts.app_user, accounts.host, accounts.app_password)
        lines += [grant.statement(app) for grant in grants if grant.server == server]
        if migrating and wechat.server == server:
            lines += _account(accounts.migration_user, accounts.host, accounts.migration_password)
            lines.append(
                f"GRANT ALL PRIVILEGES ON {quote_identifier(wechat.name)}.* "
                f"TO {account(accounts.migration_user, accounts.host)};"
            )
    lines += ["", *_configuration(accounts, wechat, primary)]
    return "\n".join(lines) + "\n"


def _header(accounts: Accounts, *, migrating: bool) -> list[str]:
    lines = [
        "-- infotrack 数据库账号(最小权限),由 `infotrack grants` 生成。",
        "-- 以 root(或有 CREATE USER 和 GRANT OPTION 权限的账号)在 `infotrack init` 之后执行:",
        "-- 表级授权要求表已存在;升级后新增了表时请重新生成并执行。",
        f"-- 应用账号 {accounts.app_user}:服务(serve、告警进程、锚定)使用。对 informationtra 和",
        "--   infotrack_access_log 只有 INSERT、SELECT,不能改写或删除操作记录和访问日志;",
        "--   其他表只有它需要的权限;CRM 的客户表只读。",
    ]
    if migrating:
        lines += [
            f"-- 迁移账号 {accounts.migration_user}:只在运行 init、archive(删除已归档的行)、",
            "--   erase(假名化个人信息)时使用,服务进程不持有它的密码。它拥有 wechat 库的全部权限:",
            "--   迁移可能需要任何 DDL(CREATE、ALTER、INDEX、DROP、REFERENCES…),逐项列出会让某次",
            "--   升级中途失败;它仅限这一个库,没有全局权限,也没有 GRANT OPTION。",
            "--   注意:wechat 库通常也是 CRM 的库,请像保管 root 密码一样保管它。",
        ]
    lines += [
        "-- 每个账号先 REVOKE ALL:执行后其权限恰好是下面列出的(已授予的角色不受影响,",
        "--   `infotrack doctor` 会实际检验应用账号能否改写操作记录)。",
        "-- 数据库管理员(root)仍可修改任何数据:这正是防篡改链和外部锚点要发现的。",
    ]
    if accounts.generated:
        names = "、".join(accounts.generated)
        lines += [
            f"-- 未设置 {names}:已生成随机密码(见下面的语句和连接地址)。请立即妥善保存;",
            "--   再次运行本命令会生成新密码,执行后旧密码失效(ALTER USER)。",
        ]
    return lines


def _account(user: str, host: str, password: str) -> list[str]:
    who = account(user, host)
    secret = quote_string(password, "密码")
    return [
        f"CREATE USER IF NOT EXISTS {who} IDENTIFIED BY {secret};",
        # An existing account keeps the printed password too, so the URLs below are right.
        f"ALTER USER {who} IDENTIFIED BY {secret};",
        f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {who};",
    ]


def _configuration(accounts: Accounts, wechat: Database, primary: Database) -> Iterator[str]:
    yield "-- 然后这样配置 infotrack(写入 .env 或环境变量;含密码,请限制文件权限):"
    app = (accounts.app_user, accounts.app_password)
    for db, env in ((wechat, "INFOTRACK_WECHAT_DB_URL"), (primary, "INFOTRACK_PRIMARY_DB_URL")):
        if db.backend in _MYSQL_BACKENDS:
            yield f"-- {env}={_url(db.url, *app)}"
    if wechat.backend in _MYSQL_BACKENDS:
        migration = _url(wechat.url, accounts.migration_user, accounts.migration_password)
        yield f"-- INFOTRACK_WECHAT_ADMIN_DB_URL={migration}"
        yield "-- 服务只需要前两项;INFOTRACK_WECHAT_ADMIN_DB_URL 只在运行 init、archive、erase 时"
        yield "--   设置(服务进程的环境里不要有它)。"


def _url(url: URL, user: str, password: str) -> str:
    rendered = url.set(username=user, password=password).render_as_string(hide_password=False)
    return shlex.quote(rendered)  # the same line works in a shell and in a .env file


def _sqlite_notes(wechat: Database, primary: Database) -> Iterator[str]:
    if "sqlite" not in (wechat.backend, primary.backend):
        return
    named = (db.url.database for db in (wechat, primary) if db.backend == "sqlite")
    files = [f for f in dict.fromkeys(named) if f and f != ":memory:"]
    yield "-- SQLite 没有数据库账号,也没有 GRANT:SQLite 库无需执行任何授权语句。"
    yield "-- 谁能改写 informationtra 由数据库文件的文件系统权限决定:请只让运行 infotrack 的"
    yield "-- 系统账号读写这些文件和它们所在的目录(WAL 模式要在目录中创建文件):"
    for path in files:
        yield f"--   {path}"
    if files:
        folders = " ".join(
            shlex.quote(d) for d in sorted({os.path.dirname(os.path.abspath(f)) for f in files})
        )
        yield f"--   例如:chown -R infotrack: {folders} && chmod -R go-rwx {folders}"
    yield "-- 能写这些文件的人就能改写记录:防篡改链(`infotrack verify`)和外部锚点会发现这类改动。"
    yield "-- 需要由数据库强制“只追加”时,请改用 MySQL/MariaDB 并重新运行 `infotrack grants`。"


# --- what an account can really do ------------------------------------------------------------
# The tables the application account must not rewrite: the trail and who-read-what.
APPEND_ONLY_TABLES = ("informationtra", "infotrack_access_log")
_DENIED_MYSQL = (1142, 1143)  # table / column access denied (MySQL, MariaDB, TiDB)
_DENIED_SQLSTATE = "42501"  # PostgreSQL's insufficient_privilege


@dataclass(frozen=True)
class Rewrites:
    """What an account may do to a table besides appending, found by trying."""

    table: str
    updatable: tuple[str, ...]  # the columns it may UPDATE
    all_columns: bool
    deletable: bool

    @property
    def possible(self) -> bool:
        """True when the account can change or remove rows of the table."""
        return bool(self.updatable) or self.deletable


def privilege_denied(exc: DBAPIError) -> bool:
    """True when the database refused a statement for lack of privilege."""
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and args[0] in _DENIED_MYSQL:
        return True
    return _DENIED_SQLSTATE in (getattr(orig, "pgcode", None), getattr(orig, "sqlstate", None))


def probe_rewrites(engine: Engine, table: str) -> Rewrites:
    """Try UPDATE and DELETE on ``table`` as ``engine``'s account, matching no row, rolled back.

    Trying rather than reading the grant tables covers global, database, table and column
    grants and roles alike, whatever the engine. Each column is tried alone when the whole
    row is refused, because a column grant is enough to rewrite what that column holds.
    Other errors than a refusal propagate: the answer would be a guess.
    """
    quote = engine.dialect.identifier_preparer.quote
    columns = [col["name"] for col in inspect(engine).get_columns(table) if not col.get("computed")]
    target = quote(table)
    deletable = _permitted(engine, f"DELETE FROM {target} WHERE 1 = 0")
    every = ", ".join(f"{quote(c)} = {quote(c)}" for c in columns)
    if _permitted(engine, f"UPDATE {target} SET {every} WHERE 1 = 0"):
        return Rewrites(table, tuple(columns), True, deletable)
    updatable = tuple(
        c
        for c in columns
        if _permitted(engine, f"UPDATE {target} SET {quote(c)} = {quote(c)} WHERE 1 = 0")
    )
    return Rewrites(table, updatable, False, deletable)


def _permitted(engine: Engine, statement: str) -> bool:
    # Its own transaction each time: PostgreSQL aborts a transaction at the first refusal.
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            conn.execute(text(statement))
        except DBAPIError as exc:
            if privilege_denied(exc):
                return False
            raise
        finally:
            tx.rollback()
    return True


# --- the command ----------------------------------------------------------------------------
def grants_command(
    app_user: Annotated[
        str, typer.Option("--app-user", help="应用账号名(服务使用,只能追加操作记录)")
    ] = "infotrack_app",
    migration_user: Annotated[
        str, typer.Option("--migration-user", help="迁移账号名(init、archive、erase 使用)")
    ] = "infotrack_admin",
    host: Annotated[str, typer.Option("--host", help="账号的主机部分,如 % 或 10.0.0.%")] = "%",
) -> None:
    """Print the MySQL statements creating least-privilege accounts (run them as root)."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    try:
        accounts = Accounts.from_environment(app_user, migration_user, host)
        script = render(settings, accounts)
    except ConfigError as exc:
        Console(stderr=True).print(f"[bold red]错误:[/] {escape(exc.message)}")
        raise typer.Exit(1) from exc
    typer.echo(script, nl=False)  # plain text: no wrapping, no markup
