"""Appending many rows to ``informationtra`` on SQLite in one transaction (the demo loader).

Straight through the driver's ``executemany`` on a connection of its own; a load at least as
large as the table drops the table's declared indexes first and builds them again before the
commit. Figures: ``benchmarks/README.md`` (the demo section).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.schema import CreateIndex

from infotrack.errors import ServiceUnavailable
from infotrack.maintenance.doctor import short_reason
from infotrack.models import informationtra

# Page cache of the loading connection (KiB): the new rows and index pages stay in memory
# until the commit, and CREATE INDEX sorts within it; past it pages spill into the WAL (as fast
# at 1 M rows: 21.8 s with 256 MiB or 1 GiB, peak RSS 639 against 1 073 MB).
LOAD_CACHE_KIB = 256 * 1024


def load_rows(
    engine: Engine, columns: Sequence[str], rows: Iterable[tuple[Any, ...]], count: int
) -> int:
    """Append ``count`` rows (values in ``columns`` order) in ONE transaction, indexes included.

    A load at least as large as the table drops the ``informationtra`` indexes the schema
    declares, inserts, and creates them again from the same declarations. SQLite's DDL is
    transactional, so an interruption at any point (an error, Ctrl-C, a killed process) leaves
    the table as it was: every index there, none of the rows.
    """
    if not count:
        return 0
    pooled = engine.raw_connection()
    dbapi = pooled.driver_connection
    assert isinstance(dbapi, sqlite3.Connection)
    pooled.detach()  # its pragmas change below: closed afterwards, never handed out again
    try:
        dbapi.isolation_level = None  # the transaction is ours: BEGIN … COMMIT below
        cur = dbapi.cursor()
        # No fsync: a crash of this process (or Ctrl-C) still rolls back cleanly in WAL mode;
        # only an OS crash or power cut in the seconds after a load could damage the file,
        # which holds demo data only (see ``_refuse_real_data``). Saves ~6 % at 1 M rows.
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute(f"PRAGMA cache_size=-{LOAD_CACHE_KIB}")
        cur.execute("BEGIN IMMEDIATE")
        try:
            (present,) = cur.execute("SELECT count(*) FROM informationtra").fetchone()
            # Rebuilding sorts every key once, old rows' too; maintaining inserts each new key
            # into its B-tree. With the cache above they cost the same once a load doubles the
            # table (1 M rows onto 1 M: 32 s either way); into an empty table rebuilding saves
            # a tenth (1 M rows: 21.5 s against 23.5 s), into a fuller one maintaining wins.
            rebuild = _declared_indexes(cur, engine.dialect) if count >= present else []
            for name, _ddl in rebuild:
                cur.execute(f"DROP INDEX {_quote(name)}")
            names = ", ".join(_quote(name) for name in columns)
            marks = ", ".join("?" * len(columns))
            cur.executemany(f"INSERT INTO informationtra ({names}) VALUES ({marks})", rows)
            for _name, ddl in rebuild:
                cur.execute(ddl)
            cur.execute("COMMIT")
        except BaseException:
            if dbapi.in_transaction:
                dbapi.rollback()
            raise
    except sqlite3.Error as exc:
        raise ServiceUnavailable(
            f"写入演示操作记录失败,已全部撤销(索引不变,未写入任何记录):{short_reason(exc)}"
        ) from exc
    finally:
        pooled.close()
    return count


def _declared_indexes(cur: sqlite3.Cursor, dialect: Dialect) -> list[tuple[str, str]]:
    """(name, CREATE INDEX) of the table's indexes that are exactly as the schema declares
    them, in the order the database lists them (so a rebuild keeps that order too).

    The statements are compiled from the ``informationtra`` Table — the declarations the
    migrations create — and compared with what the database stored: an index that differs
    (an older definition, a CRM's own) is left alone and maintained row by row instead.
    """
    declared = {
        index.name: str(CreateIndex(index).compile(dialect=dialect))
        for index in informationtra.indexes
        if index.name
    }
    stored = cur.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY rowid",
        ("informationtra",),
    )
    return [(name, sql) for name, sql in stored if declared.get(name) == sql]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
