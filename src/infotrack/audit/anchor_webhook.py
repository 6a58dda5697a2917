"""The anchor webhook: every anchor posted, in order, to a receiver outside the database.

Each anchor is posted as its JSON document — byte for byte the anchor file's line — signed like
the alert channels' generic webhook, so one receiver-side check serves both::

    X-InfoTrack-Event: anchor
    X-InfoTrack-Delivery: <anchor id>            (deduplicate on it: a retry keeps it)
    X-InfoTrack-Timestamp: <unix seconds>
    X-InfoTrack-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

(:func:`infotrack.alerts.channels.verify_webhook_signature` checks it.) The anchors table is the
outbox: a cursor (a row of ``infotrack_worker_state``) holds the last id delivered, every call
posts what follows it, in order, and stops at the first failure, so the next anchor retries.
Two processes delivering at once may post an anchor twice, never skip one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from infotrack.audit.anchor_documents import ANCHORS, anchor_line, anchors_after, vouch
from infotrack.audit.chain import AuditKey
from infotrack.config import Settings
from infotrack.kit.clock import Clock
from infotrack.models import WorkerState

if TYPE_CHECKING:
    import httpx

CURSOR = "audit-anchor-webhook"  # the infotrack_worker_state row holding the cursor
BATCH = 100  # anchors posted per call at most: a long outage drains over a few calls
TIMEOUT = 10.0  # seconds per request
USER_AGENT = "infotrack-anchors/1"
STATE = cast(Table, WorkerState.__table__)


@dataclass(frozen=True)
class Delivery:
    """What one round of posting did."""

    sent: int
    error: str | None  # Chinese, without the address or the secret; None when all went
    problems: list[str]  # stored anchors skipped because their MAC fails


def deliver_anchors(
    engine: Engine, settings: Settings, key: AuditKey, clock: Clock, *, first_new: int | None
) -> Delivery:
    """Post the anchors after the cursor, in order, until one fails.

    The first time a webhook is used the cursor starts just before ``first_new`` (the first
    anchor made now) or at the latest anchor, so switching one on does not replay history.
    """
    import httpx

    url = settings.audit_anchor_webhook_url
    if not url:
        return Delivery(0, None, [])
    cursor, stored = _cursor(engine, first_new)
    with engine.connect() as conn:
        rows = [row._mapping for row in conn.execute(anchors_after(cursor).limit(BATCH))]
    problems: list[str] = []
    delivered, sent, error = cursor, 0, None
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        for row in rows:
            for document in vouch(key, [row], problems):
                failure = post_anchor(
                    client, url, settings.audit_anchor_webhook_secret, document, now=clock.time()
                )
                if failure:
                    error = f"锚点 #{row['id']}:{failure}"
                    break
                sent += 1
            if error:
                break
            delivered = int(row["id"])
    if delivered != cursor:
        _advance(engine, stored, delivered)
    return Delivery(sent, error, problems)


def post_anchor(
    client: httpx.Client, url: str, secret: str | None, document: dict[str, Any], *, now: float
) -> str | None:
    """POST one anchor; None when delivered (any 2xx answer), else what went wrong."""
    # Imported here: httpx loads only in a process that posts anchors, not in every command.
    import httpx

    # The alert channels' signing, so a receiver checks both kinds of delivery alike.
    from infotrack.alerts.channels import webhook_signature

    body = anchor_line(document)
    timestamp = str(int(now))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-InfoTrack-Event": "anchor",
        "X-InfoTrack-Delivery": str(document["id"]),
        "X-InfoTrack-Timestamp": timestamp,
    }
    if secret:
        headers["X-InfoTrack-Signature"] = webhook_signature(secret, timestamp, body)
    try:
        response = client.post(url, content=body, headers=headers, timeout=TIMEOUT)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        return "webhook 地址无效"
    except httpx.TimeoutException:
        return f"请求超时({TIMEOUT:g} 秒)"
    except httpx.ConnectError:
        return "无法连接"
    except httpx.HTTPError as exc:
        return f"网络错误({type(exc).__name__})"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def _cursor(engine: Engine, first_new: int | None) -> tuple[int, str]:
    """The last anchor id delivered, and the stored text (for a compare-and-set)."""
    with engine.connect() as conn:
        stored = conn.execute(
            select(STATE.c.checkpoint).where(STATE.c.name == CURSOR)
        ).scalar_one_or_none()
        if stored is not None:
            return int(json.loads(stored)["delivered"]), str(stored)
        if first_new is not None:
            start = first_new - 1
        else:
            start = conn.execute(select(func.max(ANCHORS.c.id))).scalar_one_or_none() or 0
    stored = json.dumps({"delivered": start})
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(STATE).values(name=CURSOR, epoch=0, checkpoint=stored, updated_at=_utc())
            )
    except IntegrityError:  # another process made it at the same moment: use theirs
        return _cursor(engine, first_new)
    return start, stored


def _advance(engine: Engine, stored: str, delivered: int) -> None:
    """Move the cursor on, unless another process moved it meanwhile (theirs stands)."""
    with engine.begin() as conn:
        conn.execute(
            update(STATE)
            .where(STATE.c.name == CURSOR, STATE.c.checkpoint == stored)
            .values(checkpoint=json.dumps({"delivered": delivered}), updated_at=_utc())
        )


def _utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
