"""Everything a running process shares: settings, engines, caches and the writer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from infotrack.auth.service import AccountCache, LoginService
from infotrack.auth.tokens import TokenService
from infotrack.config import Settings
from infotrack.customers.service import CustomerResolver
from infotrack.db import AsyncSources, Sources
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
    hot: AsyncSources | None = None  # asyncio engines of the write path, made by start()

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

    async def start(self) -> None:
        """Learn what the schema forbids, then start the batched lookups and the writer."""
        try:
            fk = await run_in_threadpool(
                find_cascade_fk, self.sources.wechat, self.settings.users_table
            )
        except Exception:  # database down at start: the writer learns it from the first insert
            fk = None
        self.recorder.fk_blocks_primary = fk is not None
        self.hot = AsyncSources.from_settings(self.settings)
        self.resolver.start(self.hot)
        self.recorder.start(self.hot.wechat)

    async def stop(self) -> None:
        """Answer what is queued, flush the writer, close the pools."""
        await self.resolver.stop()
        await self.recorder.stop()
        if self.hot is not None:
            await self.hot.dispose()
        await run_in_threadpool(self.sources.dispose)
