"""The anchor document: what its MAC covers, how it is stored, written and read back.

One document, three copies that must agree byte for byte in meaning: the database row
(``infotrack_audit_anchors``, an index), the anchor file's line and the webhook's body (the
witnesses). The row is rebuilt into the document exactly, so anchors the file or the webhook
missed can be written later from the table, after their MAC is checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select, select

from infotrack.audit.chain import AuditKey, canonical_time
from infotrack.models import AuditAnchor

ANCHORS = cast(Table, AuditAnchor.__table__)
_COLUMNS = (
    ANCHORS.c.id,
    ANCHORS.c.anchored_at,
    ANCHORS.c.key_id,
    ANCHORS.c.reason,
    ANCHORS.c.operator,
    ANCHORS.c.heads,
    ANCHORS.c.prev_mac,
    ANCHORS.c.mac,
)


def anchor_document(
    anchor_id: int,
    at: str,
    key_id: str,
    reason: str,
    operator: str | None,
    heads: list[list[Any]],
    prev: str | None,
) -> dict[str, Any]:
    """What an anchor's MAC covers (everything but ``mac``), in the file's key order."""
    return {
        "v": 1,
        "id": anchor_id,
        "at": at,
        "key_id": key_id,
        "reason": reason,
        "operator": operator,
        "heads": heads,
        "prev": prev,
    }


def anchors_after(anchor_id: int) -> Select[Any]:
    """The stored anchors after ``anchor_id``, oldest first."""
    return select(*_COLUMNS).where(ANCHORS.c.id > anchor_id).order_by(ANCHORS.c.id)


def row_document(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A stored anchor rebuilt as the document it was made from, ``mac`` included.

    Raises ValueError when the stored heads are not JSON.
    """
    document = anchor_document(
        int(row["id"]),
        canonical_time(row["anchored_at"]) or "",
        row["key_id"],
        row["reason"],
        row["operator"],
        json.loads(row["heads"]),
        row["prev_mac"],
    )
    document["mac"] = row["mac"]
    return document


def mac_holds(key: AuditKey, document: Mapping[str, Any]) -> bool:
    """True when the document was made under this key and its MAC matches."""
    body = {k: v for k, v in document.items() if k != "mac"}
    return document.get("key_id") == key.key_id and key.check_mac(body, document.get("mac"))


def vouched_documents(
    conn: Connection, after: int, key: AuditKey, problems: list[str], *, limit: int | None = None
) -> list[dict[str, Any]]:
    """The stored anchors after ``after`` that pass their MAC, in order.

    The others are left out and reported in ``problems``: what nobody can vouch for is never
    copied outside the database.
    """
    query = anchors_after(after)
    if limit is not None:
        query = query.limit(limit)
    return vouch(key, (row._mapping for row in conn.execute(query)), problems)


def vouch(
    key: AuditKey, rows: Iterable[Mapping[Any, Any]], problems: list[str]
) -> list[dict[str, Any]]:
    """The documents of ``rows`` that pass their MAC (see :func:`vouched_documents`)."""
    documents = []
    for row in rows:
        try:
            document = row_document(row)
        except ValueError:
            document = {}
        if mac_holds(key, document):
            documents.append(document)
        else:
            problems.append(
                f"数据库中的锚点 #{row['id']} 未通过 MAC 校验(锚点表被改动过?),未写到库外"
            )
    return documents


def anchor_line(document: Mapping[str, Any]) -> bytes:
    """One anchor as written to the file and posted to the webhook (no newline)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse_anchor_line(raw: bytes) -> dict[str, Any] | None:
    """A line's document when it has every field with the right type, else None."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict) or type(document.get("id")) is not int:
        return None
    if any(not isinstance(document.get(name), str) for name in ("at", "key_id", "reason", "mac")):
        return None
    for name in ("operator", "prev"):
        if name not in document or not isinstance(document[name], str | None):
            return None
    heads = document.get("heads")
    if not isinstance(heads, list) or not all(_is_head(head) for head in heads):
        return None
    return document


def _is_head(head: Any) -> bool:
    return (
        isinstance(head, list)
        and len(head) == 4
        and type(head[0]) is int
        and type(head[1]) is int
        and isinstance(head[2], str)
        and type(head[3]) is int
    )
