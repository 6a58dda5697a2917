"""Tables: the seed's ``informationtra`` and our own ``infotrack_*`` tables."""

from infotrack.models.access_log import AccessLogEntry
from infotrack.models.account import Account
from infotrack.models.alert import Alert, AlertDelivery, DeliveryAttempt, WorkerState
from infotrack.models.audit import (
    AuditAnchor,
    ErasedRow,
    Erasure,
    TrailArchive,
    TrailChain,
)
from infotrack.models.base import Base
from infotrack.models.informationtra import SEED_COLUMNS, informationtra
from infotrack.models.login_throttle import LoginThrottle

__all__ = [
    "SEED_COLUMNS",
    "AccessLogEntry",
    "Account",
    "Alert",
    "AlertDelivery",
    "AuditAnchor",
    "Base",
    "DeliveryAttempt",
    "ErasedRow",
    "Erasure",
    "LoginThrottle",
    "TrailArchive",
    "TrailChain",
    "WorkerState",
    "informationtra",
]
