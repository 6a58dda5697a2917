"""Everything a running process shares: settings, engines, caches and the writer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from infotrack.auth.service import AccountCache, LoginService
from infotrack.auth.tokens import TokenService
from infotrack.config import Settings
from infotrack.customers.service import CustomerResolver
from infotrack.db import Sources
from infotrack.maintenance.schema import find_cascade_fk
from infotrack.tracking.recorder import Recorder


@dataclass
class Runtime:
    """One per process (the app's lifespan owns it; the CLI builds one for its commands)."""

    settings: Settings
    sources: Sources
    resolver: CustomerResolver
    recorder: Recorder
    tokens: TokenService
    accounts: AccountCache
    logins: LoginService

    @classmethod
    def build(cls, settings: Settings, sources: Sources | None = None) -> Runtime:
        """Wire the parts together (connects lazily: nothing here needs a database yet)."""
        sources = sources or Sources.from_settings(settings)
        return cls(
            settings=settings,
            sources=sources,
            resolver=CustomerResolver(sources, settings),
            recorder=Recorder(
                sources.wechat,
                settings.zone,
                batch_max=settings.write_batch_max,
                timeout=settings.write_timeout,
            ),
            tokens=TokenService(settings, settings.resolved_secret_key()),
            accounts=AccountCache(sources.wechat, settings.account_cache_ttl),
            logins=LoginService(
                sources.wechat,
                settings.zone,
                max_failures=settings.login_max_failures,
                lockout=timedelta(minutes=settings.login_lockout_minutes),
            ),
        )

    def start(self) -> None:
        """Learn what the schema forbids, then start the writer."""
        try:
            blocked = find_cascade_fk(self.sources.wechat, self.settings.users_table) is not None
        except Exception:  # database down at start: the writer learns it from the first insert
            blocked = False
        self.recorder.fk_blocks_primary = blocked
        self.recorder.start()

    def stop(self) -> None:
        """Flush the writer and close the pools."""
        self.recorder.stop()
        self.sources.dispose()
