"""Settings: one class, read from ``INFOTRACK_*`` environment variables and a ``.env`` file.

Every setting has a safe default for the embedded mode (two SQLite files under ``./data``).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from infotrack.errors import ConfigError

log = logging.getLogger(__name__)

ScopeKind = Literal["own", "department", "company", "all"]
DEFAULT_ROLE_SCOPES: dict[str, ScopeKind] = {
    "业务员": "own",
    "经理": "department",
    "主管": "department",
    "总监": "company",
    "管理员": "company",
    "审计": "company",
    "系统管理员": "all",
}
MIN_RETENTION_DAYS = 180
IpNetworks = Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode]
StrList = Annotated[list[str], NoDecode]


def _split_list(value: Any) -> Any:
    """Accept ``a,b`` as well as a JSON list for list-valued variables."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            import json

            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """All of infotrack's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="INFOTRACK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- data sources -------------------------------------------------------------------
    wechat_db_url: str = "sqlite:///./data/wechat.db"
    primary_db_url: str = "sqlite:///./data/primary.db"
    data_dir: Path = Path("./data")
    db_pool_size: int = Field(default=10, ge=1, le=200)

    # Customer lookup: real CRM databases name things differently.
    users_table: str = "users"
    users_id_column: str = "userId"
    users_phone_column: str = "phoneNumber"
    users_name_column: str = "nickName"
    contacts_table: str = "contacts"
    contacts_id_column: str = "id"
    contacts_phone_column: str = "phoneNumber"
    contacts_name_column: str = "name"
    default_region: str = "CN"
    customer_cache_ttl: float = Field(default=60.0, ge=0)
    customer_miss_cache_ttl: float = Field(default=2.0, ge=0)
    customer_cache_size: int = Field(default=100_000, ge=0)

    # --- time ---------------------------------------------------------------------------
    timezone: str = "Asia/Shanghai"

    # --- identity -----------------------------------------------------------------------
    secret_key: str | None = None
    token_ttl_minutes: int = Field(default=12 * 60, ge=1)
    cookie_secure: bool = False
    account_cache_ttl: float = Field(default=5.0, ge=0)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)

    # CRM-issued JWTs (integration). Claim names map onto the six identity fields.
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: str | None = None
    jwt_public_key: str | None = None  # PEM text, or a path to a PEM file
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_claims: dict[str, str] = Field(
        default_factory=lambda: {
            "operator_id": "sub",
            "company": "company",
            "department": "department",
            "organization": "organization",
            "role": "role",
            "name": "name",
            "assistant": "assistant",
            "side": "side",
        }
    )

    # Identity headers from the CRM's reverse proxy, trusted only from these addresses.
    trusted_proxies: IpNetworks = Field(default_factory=list)
    proxy_header_prefix: str = "X-InfoTrack-"

    # --- who may read what ---------------------------------------------------------------
    # Role -> read scope (own | department | company | all); unknown roles read their own.
    role_scopes: dict[str, ScopeKind] = Field(default_factory=lambda: dict(DEFAULT_ROLE_SCOPES))
    # Roles that see phone numbers in full; everyone else reads 138****8000.
    unmasked_roles: StrList = Field(default_factory=lambda: ["管理员", "审计", "系统管理员"])
    # Separation of duties: account administration (管理员) and audit (审计) are different
    # people's jobs. Roles that may read the access log (within their scope):
    access_log_roles: StrList = Field(default_factory=lambda: ["审计", "系统管理员"])
    # Roles that may manage accounts: every account with an "all" scope, else their company's.
    # Whoever may manage accounts never sees the access-log entries of their own acts.
    account_admin_roles: StrList = Field(default_factory=lambda: ["管理员", "系统管理员"])
    # Roles that may run the trail check (/audit/verify).
    verify_audit_roles: StrList = Field(default_factory=lambda: ["审计", "系统管理员"])
    # Roles allowed to hold both duties (account administration, and the access log or the
    # check); any other role configured on both sides is refused at start.
    dual_duty_roles: StrList = Field(default_factory=lambda: ["系统管理员"])

    # --- exports ------------------------------------------------------------------------
    # Most rows one export may hold, per format; over it the export is refused (never cut).
    export_max_rows_pdf: int = Field(default=20_000, ge=1, le=50_000)  # ~34 KB a page in memory
    export_max_rows_xlsx: int = Field(default=1_000_000, ge=1, le=1_048_575)  # Excel's sheet
    export_max_rows_csv: int = Field(default=1_000_000, ge=1)
    # A TrueType font with CJK glyphs for PDFs; the bundled Droid Sans Fallback when unset.
    pdf_font: Path | None = None

    # --- alerts -------------------------------------------------------------------------
    # A TOML file of rules, channels, working hours and digests; built-in defaults when unset.
    alert_rules_file: Path | None = None
    # `infotrack serve` runs the alert worker too (a database lease keeps one active anywhere).
    alerts_in_process: bool = True
    alerts_poll_interval: float = Field(default=1.0, gt=0, le=60)  # seconds between tails
    alerts_lease_ttl: float = Field(default=30.0, ge=3)  # seconds a silent worker keeps the lease
    alerts_batch_size: int = Field(default=5000, ge=1, le=100_000)  # rows read per query
    # How long an id gap is watched for a row that commits late (rolled-back inserts leave
    # gaps forever; distributed engines leave long ones while a node uses its id block).
    alerts_late_commit_grace: float = Field(default=3600.0, ge=0)
    alerts_delivery_max_attempts: int = Field(default=10, ge=1, le=100)
    # The console's address as people reach it, for links in notifications.
    public_url: str | None = None

    # --- audit --------------------------------------------------------------------------
    # The chain's HMAC key: never stored in the database. INFOTRACK_AUDIT_KEY (at least 32
    # characters) or a file holding it; generated under data_dir in the embedded mode.
    audit_key: str | None = None
    audit_key_file: Path | None = None
    # Chain heads are checkpointed outside the database: appended to this file (default
    # data_dir/audit-anchors.jsonl) and, when set, posted to a webhook.
    audit_anchor_file: Path | None = None
    audit_anchor_webhook_url: str | None = None
    audit_anchor_webhook_secret: str | None = None
    audit_anchor_interval: float = Field(default=3600.0, ge=1)  # seconds; `serve` anchors
    audit_anchors_in_process: bool = True  # `serve` anchors periodically (a lease: one anywhere)
    # The CRM's own code also writes rows (unchained, reported as such); False: any unchained
    # row is reported as tampering.
    audit_external_writers: bool = True
    # Days rows stay in the live table before they may be archived (China's Cybersecurity Law
    # §21 asks for at least six months of logs).
    retention_days: int = 3 * 365
    # The migration user's URL for schema changes, archive and erase (the application user
    # may only INSERT and SELECT the trail); the wechat URL when unset.
    wechat_admin_db_url: str | None = None

    # --- HTTP ---------------------------------------------------------------------------
    # The demo CRM page /demo/crm: auto = served while the demo data set is loaded.
    demo_pages: Literal["auto", "on", "off"] = "auto"
    cors_origins: StrList = Field(default_factory=list)
    root_path: str = ""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    # --- write path ---------------------------------------------------------------------
    write_batch_max: int = Field(default=500, ge=1, le=5000)
    write_timeout: float = Field(default=10.0, gt=0)

    # --- logging ------------------------------------------------------------------------
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    log_requests: bool = True

    @field_validator(
        "trusted_proxies",
        "cors_origins",
        "unmasked_roles",
        "access_log_roles",
        "account_admin_roles",
        "verify_audit_roles",
        "dual_duty_roles",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("retention_days")
    @classmethod
    def _retention_floor(cls, value: int) -> int:
        if value < MIN_RETENTION_DAYS:
            raise ValueError(
                f"INFOTRACK_RETENTION_DAYS={value} 低于 {MIN_RETENTION_DAYS} 天:"
                "《网络安全法》第二十一条要求网络日志留存不少于六个月"
            )
        return value

    @model_validator(mode="after")
    def _duties_apart(self) -> Settings:
        # Checked here, at start, so a deployment cannot drift into one role both managing
        # accounts and auditing what the account managers did without saying so.
        auditing = set(self.access_log_roles) | set(self.verify_audit_roles)
        both = sorted((set(self.account_admin_roles) & auditing) - set(self.dual_duty_roles))
        if both:
            raise ValueError(
                f"角色 {'、'.join(both)} 既能管理账号(INFOTRACK_ACCOUNT_ADMIN_ROLES)又能审计"
                "(INFOTRACK_ACCESS_LOG_ROLES / INFOTRACK_VERIFY_AUDIT_ROLES),违反职责分离;"
                "确需如此,请把它加入 INFOTRACK_DUAL_DUTY_ROLES"
            )
        return self

    @field_validator("wechat_db_url", "primary_db_url", "wechat_admin_db_url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            make_url(value)
        except Exception as exc:
            raise ValueError(f"not a SQLAlchemy database URL: {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The configured local time zone."""
        return ZoneInfo(self.timezone)

    @property
    def embedded(self) -> bool:
        """True when both sources are SQLite files (one host, nothing shared)."""
        return all(
            make_url(url).get_backend_name() == "sqlite"
            for url in (self.wechat_db_url, self.primary_db_url)
        )

    def resolved_secret_key(self) -> str:
        """The token-signing key; generated and kept under ``data_dir`` in the embedded mode."""
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise ConfigError("INFOTRACK_SECRET_KEY 太短:至少需要 32 个字符")
            return self.secret_key
        if not self.embedded:
            raise ConfigError(
                "使用 MySQL 时必须设置 INFOTRACK_SECRET_KEY(多台主机必须共用同一个密钥)"
            )
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            key_file.chmod(0o600)
            log.warning(
                "INFOTRACK_SECRET_KEY is not set: generated one in %s (fine for one host only)",
                key_file,
            )
        return key_file.read_text(encoding="utf-8").strip()

    def resolved_audit_key(self) -> bytes:
        """The chain's HMAC key; generated and kept under ``data_dir`` in the embedded mode."""
        if self.audit_key:
            key = self.audit_key
        elif self.audit_key_file:
            try:
                key = self.audit_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"无法读取 INFOTRACK_AUDIT_KEY_FILE {self.audit_key_file}:{exc.strerror}"
                ) from exc
        elif not self.embedded:
            raise ConfigError(
                "使用 MySQL 时必须设置 INFOTRACK_AUDIT_KEY 或 INFOTRACK_AUDIT_KEY_FILE"
                "(防篡改链的密钥,不可存放在数据库中;多台主机必须共用同一个密钥)"
            )
        else:
            key_file = self.data_dir / "audit_key"
            if not key_file.exists():
                key_file.parent.mkdir(parents=True, exist_ok=True)
                key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
                key_file.chmod(0o600)
                log.warning(
                    "INFOTRACK_AUDIT_KEY is not set: generated one in %s; keep a copy apart "
                    "from the database, verifying the trail needs it",
                    key_file,
                )
            key = key_file.read_text(encoding="utf-8").strip()
        if len(key) < 32:
            raise ConfigError("防篡改链密钥太短:至少需要 32 个字符")
        if self.secret_key and key == self.secret_key:
            raise ConfigError("INFOTRACK_AUDIT_KEY 不能与 INFOTRACK_SECRET_KEY 相同(职责分离)")
        return key.encode("utf-8")

    @property
    def anchor_file(self) -> Path:
        """Where anchors are appended."""
        return self.audit_anchor_file or self.data_dir / "audit-anchors.jsonl"

    @property
    def admin_db_url(self) -> str:
        """The URL schema changes, archives and erasures use."""
        return self.wechat_admin_db_url or self.wechat_db_url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()
