"""The two data sources: one engine each, handed to whoever needs them.

``wechat`` holds ``users``, ``informationtra`` and our ``infotrack_*`` tables; ``primary``
holds ``contacts``. There is no global "current source" switch (the seed's
``DynamicDataSource``): code that touches a source is given its engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Select

from infotrack.config import Settings
from infotrack.errors import ConfigError

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# MySQL table options for every table we create: the seed's charset and collation, so joins
# with the CRM's tables never hit "Illegal mix of collations" (MySQL 8 defaults differ).
MYSQL_TABLE_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def normalise_url(raw: str) -> URL:
    """Take a URL exactly as a user writes it and fill in what the driver needs."""
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend == "mysql" or backend == "mariadb":
        if url.drivername in ("mysql", "mariadb"):
            url = url.set(drivername=f"{backend}+pymysql")
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
    return url


SQLITE_CACHE_KIB = 65536  # per connection: the trail's indexes stay in memory
SQLITE_SCAN_CACHE_KIB = 8192  # while one connection reads a table once (exports)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; FULL sync because an acknowledged record must
    # survive a power cut; the busy timeout lets several server processes share one file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


Fetch = Callable[[Select[Any]], list[Any]]  # rows: Row objects or plain tuples, by position


@contextmanager
def scan_reader(engine: Engine) -> Iterator[Fetch]:
    """A way to read much of a table in one pass (an export): ``fetch(query) -> rows``.

    SQLite: one connection whose page cache shrinks for the pass (a single pass gains nothing
    from caching, and the process should stay small). MySQL: the asyncio driver (asyncmy, as
    on the write path) on a private event loop, because PyMySQL decodes rows in pure Python:
    40 s against 4 s for a million rows of the trail. Its one transaction gives every chunk
    the same snapshot. Read rows by position: MySQL's are plain tuples.
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_SCAN_CACHE_KIB}")
            try:
                yield lambda query: list(conn.execute(query).all())
            finally:
                with suppress(SQLAlchemyError):  # a broken connection is discarded anyway
                    conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        return
    url = async_url(engine.url.render_as_string(hide_password=False))
    loop = asyncio.new_event_loop()  # this thread's own: callers run in worker threads or the CLI
    scan_engine = create_async_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    dialect = scan_engine.dialect
    try:
        scan = loop.run_until_complete(scan_engine.connect())
        # The driver's own cursor: rows come back as plain tuples, without SQLAlchemy's
        # per-row work (a third of the time left at a million rows).
        raw = loop.run_until_complete(scan.get_raw_connection()).driver_connection
        assert raw is not None

        async def fetch(query: Select[Any]) -> list[Any]:
            compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
            values = compiled.construct_params()
            args = [values[name] for name in compiled.positiontup or ()]
            async with raw.cursor() as cursor:
                await cursor.execute(str(compiled), args)
                return list(await cursor.fetchall())

        try:
            yield lambda query: loop.run_until_complete(fetch(query))
        finally:
            loop.run_until_complete(scan.close())
    finally:
        loop.run_until_complete(scan_engine.dispose())
        loop.close()


def make_engine(raw_url: str, *, pool_size: int = 10) -> Engine:
    """An engine for one source, tuned for its dialect."""
    url = normalise_url(raw_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            from pathlib import Path

            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if url.get_driver_name() == "pymysql":
        connect_args = {"connect_timeout": 5, "read_timeout": 30, "write_timeout": 30}
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=3600,
        pool_timeout=10,
        isolation_level="READ COMMITTED",
        connect_args=connect_args,
    )


@dataclass
class Sources:
    """The engines of both sources."""

    wechat: Engine
    primary: Engine

    @classmethod
    def from_settings(cls, settings: Settings) -> Sources:
        """Build both engines; the same URL twice gives one shared engine."""
        wechat = make_engine(settings.wechat_db_url, pool_size=settings.db_pool_size)
        if normalise_url(settings.primary_db_url) == normalise_url(settings.wechat_db_url):
            return cls(wechat=wechat, primary=wechat)
        primary = make_engine(settings.primary_db_url, pool_size=settings.db_pool_size)
        return cls(wechat=wechat, primary=primary)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.wechat.dispose()
        if self.primary is not self.wechat:
            self.primary.dispose()

    def ping(self) -> dict[str, str | None]:
        """``None`` for each source that answers, else a short reason."""
        result: dict[str, str | None] = {}
        for name, engine in (("wechat", self.wechat), ("primary", self.primary)):
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                result[name] = None
            except Exception as exc:  # any failure means "not ready", whatever the driver
                result[name] = type(exc).__name__
        return result


def async_url(raw: str) -> URL:
    """The same database through its asyncio driver (used by the write path only)."""
    url = normalise_url(raw)
    backend = url.get_backend_name()
    if backend in ("mysql", "mariadb"):
        return url.set(drivername=f"{backend}+asyncmy")
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    raise ConfigError(f"写入路径不支持数据库类型 {backend}:请使用 MySQL/MariaDB 或 SQLite")


def make_async_engine(raw_url: str, *, pool_size: int = 4) -> AsyncEngine:
    """An asyncio engine for one source: the batched lookups and appends run on it."""
    url = async_url(raw_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=3600,
        pool_timeout=10,
        isolation_level="READ COMMITTED",
        connect_args={"connect_timeout": 5},
    )


@dataclass
class AsyncSources:
    """Asyncio engines of both sources, for the hot path (created inside the event loop)."""

    wechat: AsyncEngine
    primary: AsyncEngine

    @classmethod
    def from_settings(cls, settings: Settings) -> AsyncSources:
        """Both engines; the same URL twice gives one shared engine."""
        wechat = make_async_engine(settings.wechat_db_url)
        if normalise_url(settings.primary_db_url) == normalise_url(settings.wechat_db_url):
            return cls(wechat=wechat, primary=wechat)
        return cls(wechat=wechat, primary=make_async_engine(settings.primary_db_url))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.wechat.dispose()
        if self.primary is not self.wechat:
            await self.primary.dispose()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on error (used at the edges only)."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_mysql(engine: Engine) -> bool:
    """True for MySQL and MariaDB (and other engines speaking their dialect)."""
    return engine.dialect.name in ("mysql", "mariadb")


metadata = MetaData(naming_convention=NAMING_CONVENTION)
