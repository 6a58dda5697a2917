"""Refused attempts at guarded acts, on record for the auditors.

A 403 on account management (``account_refused``) or on the audit functions themselves — the
access log and the trail check (``audit_refused``) — says who tried what: someone probing
for the auditors' view is exactly what an auditor wants to see. The entry is written in a
transaction of its own, since the attempt wrote nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from infotrack.audit.access_log import AccessContext, record_access
from infotrack.errors import Forbidden
from infotrack.runtime import Runtime

log = logging.getLogger(__name__)


async def log_refusal(
    runtime: Runtime,
    ctx: AccessContext,
    request: Request,
    refused: Forbidden,
    action: str,
    target: dict[str, Any] | None = None,
) -> None:
    """Log the refused request (method, path, the refusal's code, and ``target``)."""
    attempt = {"method": request.method, "path": request.url.path, "code": refused.code}
    engine, zone = runtime.sources.wechat, runtime.settings.zone
    try:
        await run_in_threadpool(
            record_access, engine, zone, ctx, action, attempt | (target or {}), 0
        )
    except SQLAlchemyError as exc:  # the refusal still stands; say so in the server log
        log.warning("could not log a refused attempt (%s): %s", action, exc)
