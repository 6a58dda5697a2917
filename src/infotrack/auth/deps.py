"""Who is calling, for FastAPI routes: ``CurrentIdentity`` and helpers.

Three ways in, tried in this order: a bearer token (ours or the CRM's JWT), identity headers
from a trusted reverse proxy, the console's session cookie. Cookie-authenticated requests that
change state must carry the CSRF token; bearer and proxy requests need none (a browser never
adds those on its own).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Request

from infotrack.auth.identity import Identity
from infotrack.auth.service import identity_of
from infotrack.config import Settings
from infotrack.errors import Forbidden, Unauthorized
from infotrack.runtime import Runtime

log = logging.getLogger(__name__)

SESSION_COOKIE = "infotrack_session"
CSRF_COOKIE = "infotrack_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Column widths of informationtra: longer identity values would be refused by MySQL.
_FIELD_LIMITS = {
    "operator_id": 120,  # plus the "jwt:"/"proxy:" prefix: fits String(128)
    "company": 255,
    "department": 255,
    "organization": 255,
    "role": 255,
    "name": 100,
    "assistant": 100,
}
_PROXY_FIELDS = {
    "operator_id": "User-Id",
    "company": "Company",
    "department": "Department",
    "organization": "Organization",
    "role": "Role",
    "name": "Name",
    "assistant": "Assistant",
    "side": "Side",
}


async def get_runtime(request: Request) -> Runtime:
    """The process's shared parts (async: FastAPI runs sync dependencies on a thread)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def current_identity(request: Request, runtime: RuntimeDep) -> Identity:
    """The authenticated caller, or 401."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization 头格式应为 Bearer <token>", code="invalid_token")
        return await _from_token(runtime, token.strip())
    proxied = _from_proxy_headers(request, runtime.settings)
    if proxied is not None:
        return proxied
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        if request.method not in _SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or sent != runtime.tokens.csrf_token(cookie):
                raise Forbidden("缺少或错误的 CSRF 令牌,请刷新页面后重试", code="csrf_failed")
        return await _from_session(runtime, cookie)
    raise Unauthorized()


CurrentIdentity = Annotated[Identity, Depends(current_identity)]


async def _from_token(runtime: Runtime, token: str) -> Identity:
    # Without CRM tokens configured every bearer token must be ours: verify it straight away
    # instead of peeking at its issuer first (this runs on every record).
    if not runtime.tokens.crm_configured or runtime.tokens.is_ours(token):
        return await _from_session(runtime, token)
    return _from_crm_claims(runtime.tokens.verify_crm(token), runtime.settings)


async def _from_session(runtime: Runtime, token: str) -> Identity:
    claims = runtime.tokens.verify(token)
    account = await runtime.accounts.get(claims.account_id)
    if account is None or account.disabled or account.token_version != claims.version:
        raise Unauthorized("账号已停用或登录已失效,请重新登录", code="session_revoked")
    return identity_of(account)


def _from_crm_claims(claims: dict[str, Any], settings: Settings) -> Identity:
    names = settings.jwt_claims
    values = {field: claims.get(claim) for field, claim in names.items()}
    if not values.get("operator_id"):
        raise Unauthorized("CRM 令牌缺少操作人ID", code="invalid_identity")
    return _identity("jwt", values)


def _from_proxy_headers(request: Request, settings: Settings) -> Identity | None:
    prefix = settings.proxy_header_prefix
    user_header = prefix + _PROXY_FIELDS["operator_id"]
    if user_header not in request.headers:
        return None
    peer = request.client.host if request.client else None
    if not is_trusted(peer, settings):
        log.warning("identity headers from untrusted address %s ignored", peer)
        return None
    # Headers are Latin-1 on the wire: proxies send Chinese values percent-encoded (UTF-8).
    try:
        values = {
            field: unquote(request.headers[prefix + header], errors="strict")
            for field, header in _PROXY_FIELDS.items()
            if prefix + header in request.headers
        }
    except UnicodeDecodeError as exc:
        raise Unauthorized(
            "代理身份头不是合法的 UTF-8 百分号编码", code="invalid_identity"
        ) from exc
    if not values.get("operator_id"):
        raise Unauthorized("代理身份头缺少操作人ID", code="invalid_identity")
    return _identity("proxy", values)


def _identity(via: str, values: dict[str, Any]) -> Identity:
    text = {
        key: (str(value).strip() if value is not None else None) for key, value in values.items()
    }
    if not text.get("operator_id"):  # a blank id would record every caller as one operator
        raise Unauthorized("身份信息缺少操作人ID", code="invalid_identity")
    for field, limit in _FIELD_LIMITS.items():
        value = text.get(field)
        if value is not None and len(value) > limit:
            raise Unauthorized(
                f"身份信息字段 {field} 过长(最多 {limit} 个字符)", code="invalid_identity"
            )
    side = text.get("side")
    if side not in (None, "", "supply", "sales"):
        raise Unauthorized("身份信息中的 side 只能是 supply 或 sales", code="invalid_identity")
    return Identity(
        via="jwt" if via == "jwt" else "proxy",
        operator_id=f"{via}:{text['operator_id']}",
        company=text.get("company") or None,
        department=text.get("department") or None,
        organization=text.get("organization") or None,
        role=text.get("role") or None,
        name=text.get("name") or None,
        assistant=text.get("assistant") or None,
        side=side or None,
    )


def is_trusted(address: str | None, settings: Settings) -> bool:
    """True when the address is one of the configured reverse proxies."""
    if not address or not settings.trusted_proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.trusted_proxies)


def client_address(request: Request, settings: Settings) -> str | None:
    """The caller's address: behind a trusted proxy, the last untrusted X-Forwarded-For hop."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and is_trusted(peer, settings):
        for hop in reversed([part.strip() for part in forwarded.split(",")]):
            if hop and not is_trusted(hop, settings):
                return hop[:45]
    return peer[:45] if peer else None
