"""Alembic environment: migrations run on the wechat source, on a connection we hand in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from infotrack.db import metadata
from infotrack.models import Base  # noqa: F401  (registers our tables on the metadata)

VERSION_TABLE = "infotrack_alembic_version"

config = context.config


def run_migrations_offline() -> None:
    """Emit SQL for a DBA to review instead of applying it."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Apply migrations on the connection ``infotrack init`` passes in (or the ini's URL)."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite cannot ALTER most things in place
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
