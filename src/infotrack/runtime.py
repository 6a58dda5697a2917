"""Everything a running process shares: settings, engines, caches and the writer."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from infotrack.audit.chain import AuditKey
from infotrack.auth.service import AccountCache, LoginService
from infotrack.auth.tokens import TokenService
from infotrack.config import Settings
from infotrack.customers.service import CustomerResolver
from infotrack.db import AsyncSources, Sources
from infotrack.maintenance.schema import find_cascade_fk
from infotrack.tracking.recorder import Recorder

if TYPE_CHECKING:
    from infotrack.alerts.worker import AlertWorker
    from infotrack.audit.anchor_scheduler import PeriodicAnchorer


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
    alerts: AlertWorker | None = None  # the in-process alert worker, when enabled
    alerts_thread: threading.Thread | None = None
    anchors: PeriodicAnchorer | None = None  # periodic chain-head anchors, when enabled
    anchors_thread: threading.Thread | None = None

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
                AuditKey(settings.resolved_audit_key()),
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
        if self.settings.alerts_in_process:
            self._start_alerts()
        if self.settings.audit_anchors_in_process:
            self._start_anchors()

    def _start_alerts(self) -> None:
        """The alert worker on a thread of its own; the lease keeps one active anywhere."""
        from infotrack.alerts.worker import AlertWorker

        self.alerts = AlertWorker(self.settings, self.sources.wechat)
        self.alerts_thread = threading.Thread(
            target=self.alerts.run_forever, name="infotrack-alerts", daemon=True
        )
        self.alerts_thread.start()

    def _start_anchors(self) -> None:
        """Periodic anchors on a thread of their own; a lease keeps one process anchoring."""
        from infotrack.audit.anchor_scheduler import PeriodicAnchorer

        key = AuditKey(self.settings.resolved_audit_key())
        self.anchors = PeriodicAnchorer(self.settings, self.sources.wechat, key)
        self.anchors_thread = threading.Thread(
            target=self.anchors.run_forever, name="infotrack-anchors", daemon=True
        )
        self.anchors_thread.start()

    async def stop(self) -> None:
        """Answer what is queued, flush the writer, stop the alert worker, close the pools."""
        if self.alerts is not None and self.alerts_thread is not None:
            self.alerts.stop()
            await run_in_threadpool(self.alerts_thread.join, 15)
        if self.anchors is not None and self.anchors_thread is not None:
            self.anchors.stop()
            await run_in_threadpool(self.anchors_thread.join, 15)
        await self.resolver.stop()
        await self.recorder.stop()
        if self.hot is not None:
            await self.hot.dispose()
        await run_in_threadpool(self.sources.dispose)
