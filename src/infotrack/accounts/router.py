"""``/api/accounts``: list, add, disable and enable accounts (the console's 账号 page).

Each act is written to the access log in the transaction that makes it (``account_add``,
``account_disable``, ``account_enable``), so no act is committed without its entry. A refused
attempt (403: an auditor managing accounts, an administrator minting an auditor) is logged as
``account_refused`` with what was tried, for the auditors to see.
There is no endpoint that changes an account's role: a new role is a new account.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from infotrack.accounts.schemas import (
    AccountList,
    AccountListResponse,
    AccountResponse,
    NewAccount,
)
from infotrack.accounts.service import (
    Admin,
    account_act,
    account_data,
    add_managed_account,
    admin_for,
    change_state,
    managed_accounts,
)
from infotrack.audit.access_log import AccessContext, add_entry, record_access
from infotrack.audit.refusals import log_refusal
from infotrack.auth.deps import RuntimeDep
from infotrack.db import session_scope
from infotrack.errors import Forbidden
from infotrack.history.router import Access
from infotrack.models import Account
from infotrack.runtime import Runtime

router = APIRouter(prefix="/api/accounts", tags=["账号管理"])

T = TypeVar("T")
Username = Annotated[str, Path(max_length=64, description="用户名")]


async def account_admin(request: Request, ctx: Access, runtime: RuntimeDep) -> Admin:
    """The caller, when their role may manage accounts; 403 (logged) otherwise."""
    try:
        return admin_for(ctx.identity, runtime.settings)
    except Forbidden as refused:
        await log_refusal(runtime, ctx, request, refused, "account_refused")
        raise


AccountAdmin = Annotated[Admin, Depends(account_admin)]


def _unit_of_work(engine: Engine, work: Callable[[Session], T]) -> T:
    # The edge: services only flush, this commits (or rolls back on any error).
    with session_scope(engine) as session:
        return work(session)


async def _log(
    runtime: Runtime, ctx: AccessContext, action: str, filters: dict[str, Any], rows: int
) -> None:
    settings = runtime.settings
    await run_in_threadpool(
        record_access, runtime.sources.wechat, settings.zone, ctx, action, filters, rows
    )


@router.get("", response_model=AccountListResponse, summary="账号列表")
async def list_(admin: AccountAdmin, ctx: Access, runtime: RuntimeDep) -> AccountListResponse:
    """Accounts the caller manages (every one, or their company's), oldest first."""
    zone = runtime.settings.zone
    accounts = await run_in_threadpool(
        _unit_of_work, runtime.sources.wechat, lambda s: managed_accounts(s, admin)
    )
    items = [account_data(account, zone) for account in accounts]
    scope = {} if admin.sees_all else {"company": admin.identity.company}
    await _log(runtime, ctx, "account_list", scope, len(items))
    return AccountListResponse(data=AccountList(items=items))


@router.post("", response_model=AccountResponse, status_code=201, summary="新建账号")
async def add(
    body: NewAccount, admin: AccountAdmin, ctx: Access, runtime: RuntimeDep, request: Request
) -> AccountResponse:
    """Add an account; outside 系统管理员, always in the caller's company."""
    settings = runtime.settings

    def work(session: Session) -> Account:
        account = add_managed_account(session, admin, body, settings)
        # In the same transaction: an account nobody can see being added is never committed.
        add_entry(session, settings.zone, ctx, "account_add", account_act(account), 1)
        return account

    try:
        account = await run_in_threadpool(_unit_of_work, runtime.sources.wechat, work)
    except Forbidden as refused:
        target = {"username": body.username, "role": body.role, "company": body.company}
        await log_refusal(runtime, ctx, request, refused, "account_refused", target)
        raise
    return AccountResponse(message="账号已创建", data=account_data(account, settings.zone))


@router.post("/{username}/disable", response_model=AccountResponse, summary="停用账号")
async def disable(
    username: Username, admin: AccountAdmin, ctx: Access, runtime: RuntimeDep, request: Request
) -> AccountResponse:
    """Disable an account: its sessions stop at once here, within the cache TTL elsewhere."""
    account = await _change(runtime, admin, ctx, request, username, disabled=True)
    return AccountResponse(message="账号已停用", data=account_data(account, runtime.settings.zone))


@router.post("/{username}/enable", response_model=AccountResponse, summary="启用账号")
async def enable(
    username: Username, admin: AccountAdmin, ctx: Access, runtime: RuntimeDep, request: Request
) -> AccountResponse:
    """Enable a disabled account again; its user signs in anew."""
    account = await _change(runtime, admin, ctx, request, username, disabled=False)
    return AccountResponse(message="账号已启用", data=account_data(account, runtime.settings.zone))


async def _change(
    runtime: Runtime,
    admin: Admin,
    ctx: AccessContext,
    request: Request,
    username: str,
    *,
    disabled: bool,
) -> Account:
    settings = runtime.settings
    action = "account_disable" if disabled else "account_enable"

    def work(session: Session) -> Account:
        account = change_state(session, admin, username, disabled=disabled, settings=settings)
        add_entry(session, settings.zone, ctx, action, {"username": account.username}, 1)
        return account

    try:
        account = await run_in_threadpool(_unit_of_work, runtime.sources.wechat, work)
    except Forbidden as refused:
        await log_refusal(runtime, ctx, request, refused, "account_refused", {"username": username})
        raise
    # After the commit, not before: a request in between would cache the old state again.
    # Enabling drops it too, or the fresh sign-in's token would meet the cached disabled row.
    runtime.accounts.forget(account.id)
    return account
