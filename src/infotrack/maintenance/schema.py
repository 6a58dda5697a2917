"""Creating and upgrading what infotrack needs, without ever dropping or rewriting data."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from infotrack.config import Settings
from infotrack.db import Sources, is_mysql, make_engine, normalise_url
from infotrack.models.customers import creatable_contacts, creatable_users

log = logging.getLogger(__name__)

VERSION_TABLE = "infotrack_alembic_version"


@dataclass
class InitReport:
    """What ``infotrack init`` did."""

    created: list[str] = field(default_factory=list)
    migrated_from: str | None = None
    migrated_to: str | None = None
    dropped_fk: str | None = None
    remaining_fk: str | None = None


def alembic_config() -> Config:
    """Alembic's configuration pointing at the migrations shipped inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("infotrack") / "migrations"))
    return cfg


def head_revision() -> str | None:
    """The newest migration this version of infotrack ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the wechat database is at (``None`` before the first ``init``)."""
    with engine.connect() as conn:
        return MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()


def find_cascade_fk(engine: Engine, users_table: str) -> str | None:
    """The name of a foreign key from ``informationtra`` to the customer table, if any."""
    insp = inspect(engine)
    if not insp.has_table("informationtra"):
        return None
    for fk in insp.get_foreign_keys("informationtra"):
        if fk.get("referred_table") == users_table:
            return fk.get("name") or "(unnamed)"
    return None


def migration_sources(settings: Settings) -> Sources:
    """The engines ``init`` works with: the migration user's on wechat when one is configured.

    The application user may only INSERT and SELECT the trail, so it cannot run DDL:
    ``INFOTRACK_WECHAT_ADMIN_DB_URL`` names the account that can. The primary source keeps its
    own URL unless it is the wechat database: there infotrack only ever creates ``contacts``
    on a fresh install, and only reads it otherwise.
    """
    if not settings.wechat_admin_db_url:
        return Sources.from_settings(settings)
    wechat = make_engine(settings.wechat_admin_db_url, pool_size=2)
    if normalise_url(settings.primary_db_url) == normalise_url(settings.wechat_db_url):
        return Sources(wechat=wechat, primary=wechat)
    return Sources(wechat=wechat, primary=make_engine(settings.primary_db_url, pool_size=2))


def initialise(
    sources: Sources, settings: Settings, *, drop_cascade_fk: bool = False
) -> InitReport:
    """Create what is missing in both sources and bring our schema to the newest migration."""
    report = InitReport()
    for engine, table in (
        (sources.wechat, creatable_users(settings)),
        (sources.primary, creatable_contacts(settings)),
    ):
        if not inspect(engine).has_table(table.name):
            table.create(engine)
            report.created.append(table.name)

    report.migrated_from = current_revision(sources.wechat)
    cfg = alembic_config()
    with sources.wechat.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    report.migrated_to = current_revision(sources.wechat)

    fk = find_cascade_fk(sources.wechat, settings.users_table)
    if fk and drop_cascade_fk:
        with sources.wechat.begin() as conn:
            if is_mysql(sources.wechat):
                conn.execute(text(f"ALTER TABLE informationtra DROP FOREIGN KEY `{fk}`"))
            else:
                raise_sqlite_fk_unsupported()
        log.warning("dropped foreign key %s from informationtra at the user's request", fk)
        report.dropped_fk = fk
    elif fk:
        report.remaining_fk = fk
    return report


def raise_sqlite_fk_unsupported() -> None:
    """SQLite cannot drop a constraint in place; we never rebuild the trail table silently."""
    from infotrack.errors import ConfigError

    raise ConfigError(
        "SQLite 无法原地删除外键:请导出 informationtra 后按无外键结构重建,"
        "或改用 MySQL 运行 `infotrack init --drop-cascade-fk`"
    )
