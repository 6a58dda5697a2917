"""Accounts: creation and listing for the CLI, sign-in with throttling, and a short cache."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from infotrack.auth.identity import Identity
from infotrack.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    dummy_hash,
    hash_password,
    verify_password,
)
from infotrack.db import session_scope
from infotrack.errors import BadRequest, Conflict, NotFound, TooManyRequests, Unauthorized
from infotrack.kit.cache import Missing, TTLMap
from infotrack.kit.clock import local_now
from infotrack.models import Account, LoginThrottle

SIDES = ("supply", "sales")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")


@dataclass(frozen=True)
class AccountFields:
    """The identity fields of a new account."""

    company: str | None = None
    department: str | None = None
    organization: str | None = None
    role: str | None = None
    name: str | None = None
    assistant: str | None = None
    side: str = "supply"


def identity_of(account: Account) -> Identity:
    """The identity an account signs in as."""
    return Identity(
        via="account",
        operator_id=account.operator_id,
        company=account.company,
        department=account.department,
        organization=account.organization,
        role=account.role,
        name=account.name,
        assistant=account.assistant,
        side=account.side,
        username=account.username,
        account_id=account.id,
    )


def add_account(
    session: Session, username: str, password: str, fields: AccountFields, zone: ZoneInfo
) -> Account:
    """Create an account; refuses a taken username, a weak password or an unknown side."""
    if not _USERNAME.match(username):
        raise BadRequest("用户名只能包含字母、数字和 _ . @ -,长度 2–64", code="invalid_username")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符", code="weak_password")
    if fields.side not in SIDES:
        raise BadRequest("side 只能是 supply(供应端)或 sales(销售端)", code="invalid_side")
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise Conflict(f"用户名 {username} 已存在", code="username_taken")
    now = local_now(zone)
    account = Account(
        username=username,
        password_hash=hash_password(password),
        company=fields.company,
        department=fields.department,
        organization=fields.organization,
        role=fields.role,
        name=fields.name,
        assistant=fields.assistant,
        side=fields.side,
        disabled=False,
        token_version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(account)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"用户名 {username} 已存在", code="username_taken") from exc
    return account


def list_accounts(session: Session) -> list[Account]:
    """Every account, oldest first."""
    return list(session.scalars(select(Account).order_by(Account.id)))


def set_disabled(session: Session, username: str, disabled: bool, zone: ZoneInfo) -> Account:
    """Disable (or re-enable) an account; its tokens stop working at once."""
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None:
        raise NotFound(f"账号 {username} 不存在", code="account_not_found")
    account.disabled = disabled
    account.token_version += 1
    account.updated_at = local_now(zone)
    session.flush()
    return account


class LoginService:
    """Checks credentials, with per-username throttling shared through the database."""

    def __init__(
        self, engine: Engine, zone: ZoneInfo, *, max_failures: int, lockout: timedelta
    ) -> None:
        self._engine = engine
        self._zone = zone
        self._max_failures = max_failures
        self._lockout = lockout

    def login(self, username: str, password: str) -> Account:
        """The account for these credentials; raises 401, or 429 while locked out."""
        key = username.strip().lower()[:64]
        now = local_now(self._zone)
        try:
            return self._attempt(key, username.strip(), password, now)
        except IntegrityError:
            # Two failures for a new username raced to create its counter: still a failure.
            pass
        raise Unauthorized("用户名或密码错误", code="invalid_credentials")

    def _attempt(self, key: str, username: str, password: str, now: datetime) -> Account:
        with session_scope(self._engine) as session:
            throttle = session.get(LoginThrottle, key)
            if throttle and throttle.locked_until and throttle.locked_until > now:
                raise TooManyRequests("登录失败次数过多,请稍后再试", code="login_throttled")
            account = session.scalar(select(Account).where(Account.username == username))
            # Verify against a dummy hash for unknown users: the answer takes as long either way.
            ok = verify_password(account.password_hash if account else dummy_hash(), password)
            if ok and account is not None and not account.disabled:
                if throttle is not None:
                    session.execute(delete(LoginThrottle).where(LoginThrottle.username == key))
                return account
            self._count_failure(session, throttle, key, now)
        raise Unauthorized("用户名或密码错误", code="invalid_credentials")

    def _count_failure(
        self, session: Session, throttle: LoginThrottle | None, key: str, now: datetime
    ) -> None:
        if throttle is None or throttle.first_failure_at < now - self._lockout:
            if throttle is not None:
                session.delete(throttle)
                session.flush()
            # Counters whose window has passed are forgotten as new ones start, so guessing
            # random usernames cannot grow the table past one window's worth of attempts.
            session.execute(
                delete(LoginThrottle).where(
                    LoginThrottle.first_failure_at < now - self._lockout,
                    or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
                )
            )
            throttle = LoginThrottle(username=key, failures=0, first_failure_at=now)
            session.add(throttle)
        throttle.failures += 1
        if throttle.failures >= self._max_failures:
            throttle.locked_until = now + self._lockout


class AccountCache:
    """Accounts by id for a few seconds, so a bearer token costs no query per request."""

    def __init__(self, engine: Engine, ttl: float) -> None:
        self._engine = engine
        self._cache: TTLMap[int, Account | None] = TTLMap(10_000, ttl)
        self._loading: dict[int, asyncio.Future[Account | None]] = {}

    async def get(self, account_id: int) -> Account | None:
        """The account, from the cache or loaded once however many requests ask meanwhile
        (when the entry expires under load, one query refreshes it, not one per request)."""
        cached = self._cache.get(account_id)
        if not isinstance(cached, Missing):
            return cached
        loading = self._loading.get(account_id)
        if loading is None:
            loading = asyncio.ensure_future(run_in_threadpool(self.load, account_id))
            self._loading[account_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(account_id, None))
        return await asyncio.shield(loading)

    def cached(self, account_id: int) -> Account | None | Missing:
        """The cached account, ``None`` when known gone, or MISSING (no database access)."""
        return self._cache.get(account_id)

    def load(self, account_id: int) -> Account | None:
        """The account from the database (detached), cached for the next requests."""
        with Session(self._engine, expire_on_commit=False) as session:
            account = session.get(Account, account_id)
            if account is not None:
                session.expunge(account)
        self._cache.put(account_id, account)
        return account

    def forget(self, account_id: int) -> None:
        """Drop an account from this process's cache (after disabling it, say)."""
        self._cache.pop(account_id)
