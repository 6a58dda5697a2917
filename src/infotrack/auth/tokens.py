"""Tokens: our own session tokens, and verification of JWTs issued by the CRM."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from infotrack.config import Settings
from infotrack.errors import Unauthorized
from infotrack.kit.cache import Missing, TTLMap

ISSUER = "infotrack"
_ALGORITHM = "HS256"
_MIN_HMAC_KEY_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What our own token says: which account, at which token version."""

    account_id: int
    version: int


class TokenService:
    """Issues and verifies infotrack's session tokens and the CRM's JWTs."""

    def __init__(self, settings: Settings, secret_key: str) -> None:
        self._settings = settings
        self._key = secret_key
        self._ttl = settings.token_ttl_minutes * 60
        self._crm_key = _crm_verification_key(settings)
        if settings.jwt_algorithm == "HS256" and self._crm_key:
            _warn_once_if_short(self._crm_key)
        self._verified: TTLMap[str, tuple[SessionClaims, float]] = TTLMap(10_000, 60)

    def issue(self, account_id: int, version: int) -> str:
        """A signed session token for an account."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": str(account_id),
            "ver": version,
            "iat": now,
            "exp": now + self._ttl,
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def is_ours(self, token: str) -> bool:
        """True when the token claims to be one of ours (checked properly by ``verify``)."""
        try:
            return jwt.decode(token, options={"verify_signature": False}).get("iss") == ISSUER
        except jwt.PyJWTError:
            return False

    def verify(self, token: str) -> SessionClaims:
        """Check one of our tokens; raises :class:`Unauthorized`.

        A token verified once is remembered for a minute (never past its expiry): a CRM page
        sends the same token with every event, and checking its signature each time was the
        largest single cost of recording one.
        """
        known = self._verified.get(token)
        if not isinstance(known, Missing) and known[1] > time.time():
            return known[0]
        claims = self._verify(token)
        self._verified.put(token, claims)
        return claims[0]

    def _verify(self, token: str) -> tuple[SessionClaims, float]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "sub", "iss"]},
            )
            session = SessionClaims(
                account_id=int(claims["sub"]), version=int(claims.get("ver", 0))
            )
            return session, float(claims["exp"])
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized("登录已过期或令牌无效,请重新登录", code="invalid_token") from exc

    @property
    def crm_configured(self) -> bool:
        """True when a CRM JWT secret or public key is configured."""
        return self._crm_key is not None

    def verify_crm(self, token: str) -> dict[str, Any]:
        """Check a CRM-issued JWT with the configured secret or public key."""
        if self._crm_key is None:
            raise Unauthorized("令牌无效", code="invalid_token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._crm_key,
                algorithms=[self._settings.jwt_algorithm],
                issuer=self._settings.jwt_issuer,
                audience=self._settings.jwt_audience,
                # Without a configured audience, a CRM token's own "aud" is not ours to judge.
                options={"require": ["exp"], "verify_aud": self._settings.jwt_audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized("CRM 令牌无效或已过期", code="invalid_token") from exc
        return claims

    @property
    def cursor_key(self) -> str:
        """The key that signs pagination cursors (derived, so it never equals the token key)."""
        return hmac.new(self._key.encode(), b"infotrack-cursor", hashlib.sha256).hexdigest()

    def csrf_token(self, session_token: str) -> str:
        """The CSRF token bound to a session cookie (double submit, signed)."""
        digest = hmac.new(self._key.encode(), session_token.encode(), hashlib.sha256)
        return digest.hexdigest()[:40]


def _warn_once_if_short(secret: str) -> None:
    """Say at start-up that the CRM's secret is short, instead of PyJWT saying it per request.

    The CRM chose the secret and its tokens must still be accepted; a warning in the log on
    every recorded event would only bury the other messages.
    """
    if len(secret.encode()) >= _MIN_HMAC_KEY_BYTES:
        return
    log.warning(
        "INFOTRACK_JWT_SECRET is shorter than %d bytes: tokens signed with it are easier to "
        "forge; ask the CRM for a longer secret",
        _MIN_HMAC_KEY_BYTES,
    )
    warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)


def _crm_verification_key(settings: Settings) -> str | None:
    if settings.jwt_algorithm == "HS256":
        return settings.jwt_secret or None
    key = settings.jwt_public_key
    if key and not key.lstrip().startswith("-----BEGIN"):
        key = Path(key).read_text(encoding="utf-8")
    return key or None
