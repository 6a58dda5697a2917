"""Account administration: who may manage which accounts, on top of auth's account functions.

An admin is a caller whose role is in ``INFOTRACK_ACCOUNT_ADMIN_ROLES``. One whose read scope
is "all" manages every account. Any other admin manages only their own company's accounts,
cannot grant (or disable) a role whose scope is "all" or an audit role, and is never told
that another company's account exists. Nobody disables their own account. Auditors (the
access-log and verify roles) are refused: administration and audit are separate duties.
These functions only flush: the caller's session scope commits, together with the act's
access-log entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from infotrack.accounts.schemas import AccountData, NewAccount
from infotrack.auth.identity import Identity
from infotrack.auth.service import AccountFields, add_account, list_accounts, set_disabled
from infotrack.config import Settings
from infotrack.errors import BadRequest, Forbidden, NotFound, SeparationOfDuties
from infotrack.history.scope import scope_for
from infotrack.kit.clock import to_aware
from infotrack.models import Account


@dataclass(frozen=True, slots=True)
class Admin:
    """A caller allowed to manage accounts, and how far."""

    identity: Identity
    sees_all: bool

    def manages(self, account: Account) -> bool:
        """True when the account is within this admin's reach."""
        if self.sees_all:
            return True
        # Like a read scope missing its company: an admin without one manages nothing.
        return self.identity.company is not None and account.company == self.identity.company


def admin_for(identity: Identity, settings: Settings) -> Admin:
    """The caller as an account admin; 403 unless their role may manage accounts.

    An auditor is refused with ``separation_of_duties``: whoever checks what account
    administrators did must not be able to do it themselves.
    """
    role = identity.role or ""
    if role not in settings.account_admin_roles:
        admins = "、".join(settings.account_admin_roles) or "(未配置)"
        if role in settings.access_log_roles or role in settings.verify_audit_roles:
            raise SeparationOfDuties(
                f"{role}负责审计,不能管理账号:账号管理与审计职责分离,账号由{admins}管理"
            )
        raise Forbidden(f"只有{admins}可以管理账号", code="forbidden_role")
    return Admin(identity, sees_all=scope_for(identity, settings).kind == "all")


def grants_all(role: str | None, settings: Settings) -> bool:
    """True when the role reads every company's records."""
    return settings.role_scopes.get(role or "", "own") == "all"


def reserved_role(role: str | None, settings: Settings) -> bool:
    """True when only an admin who sees all may grant, disable or enable the role.

    Besides the roles that read everything, the audit roles: a company's administrator who
    could make (or replace) an auditor account could read the log of their own acts through it.
    """
    name = role or ""
    return (
        grants_all(role, settings)
        or name in settings.access_log_roles
        or name in settings.verify_audit_roles
    )


def account_data(account: Account, zone: ZoneInfo) -> AccountData:
    """The account as the API shows it."""
    return AccountData(
        id=account.id,
        username=account.username,
        name=account.name,
        company=account.company,
        department=account.department,
        organization=account.organization,
        role=account.role,
        assistant=account.assistant,
        side=account.side,
        disabled=account.disabled,
        createdAt=to_aware(account.created_at, zone).isoformat(),
        updatedAt=to_aware(account.updated_at, zone).isoformat(),
    )


def account_act(account: Account) -> dict[str, str | None]:
    """What the access log keeps of an added account: who it is and what it may do."""
    return {"username": account.username, "role": account.role, "company": account.company}


def managed_accounts(session: Session, admin: Admin) -> list[Account]:
    """The accounts this admin manages, oldest first."""
    # A few hundred operators at most: filtering auth's list keeps one query for accounts.
    return [account for account in list_accounts(session) if admin.manages(account)]


def add_managed_account(
    session: Session, admin: Admin, body: NewAccount, settings: Settings
) -> Account:
    """Add an account within the admin's reach (their company unless they see all)."""
    company = body.company
    if not admin.sees_all:
        own = admin.identity.company
        if own is None:
            raise Forbidden("你的账号没有所属公司,不能创建账号", code="forbidden_company")
        if company is not None and company != own:
            raise Forbidden(f"只能为本公司({own})创建账号", code="forbidden_company")
        company = own
        if reserved_role(body.role, settings):
            raise Forbidden(
                f"只有系统管理员可以创建角色为 {body.role} 的账号", code="forbidden_role_grant"
            )
    fields = AccountFields(
        company=company,
        department=body.department,
        organization=body.organization,
        role=body.role,
        name=body.name,
        assistant=body.assistant,
        side=body.side,
    )
    return add_account(session, body.username, body.password, fields, settings.zone)


def change_state(
    session: Session, admin: Admin, username: str, *, disabled: bool, settings: Settings
) -> Account:
    """Disable or enable an account the admin manages; unchanged if already so."""
    account = session.scalar(select(Account).where(Account.username == username))
    # Compared by id, not by the name typed: MySQL matches usernames case-insensitively.
    if disabled and account is not None and account.id == admin.identity.account_id:
        raise BadRequest("不能停用自己的账号", code="cannot_disable_self")
    if account is None or not admin.manages(account):
        # Another company's account answers as a missing one: its existence is not theirs to know.
        raise NotFound(f"账号 {username} 不存在", code="account_not_found")
    if not admin.sees_all and reserved_role(account.role, settings):
        raise Forbidden(
            f"只有系统管理员可以停用或启用角色为 {account.role} 的账号",
            code="forbidden_role_grant",
        )
    if account.disabled == disabled:
        # set_disabled would bump the token version: enabling an enabled account would sign
        # its user out everywhere.
        return account
    return set_disabled(session, account.username, disabled, settings.zone)
