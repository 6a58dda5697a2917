"""Reading rows straight from the driver, for the loops that read millions of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection


def fetch_raw(conn: Connection, query: Select[Any]) -> list[Sequence[Any]]:
    """Rows as the driver returns them, without SQLAlchemy's per-row processing.

    Converting rows took a third of the alert worker's time, and most of a chain check's; the
    callers convert the few values that need it (SQLite returns times as text). Only for
    queries whose parameters are plain integers, which need no conversion on the way in either.
    """
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    args: Any = (
        tuple(params[name] for name in compiled.positiontup or ())
        if compiled.positional
        else params
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), args)
        return list(cursor.fetchall())
    finally:
        cursor.close()
