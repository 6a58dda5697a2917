"""The closed set of machine-readable event types, and inference from the seed's texts."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    """What a salesperson did to a customer record."""

    VIEW_DETAIL = "view_detail"
    EDIT = "edit"
    FOLLOW_UP = "follow_up"
    CALL = "call"
    CREATE = "create"
    ASSIGN = "assign"
    DELETE = "delete"
    EXPORT = "export"
    OTHER = "other"


EVENT_LABELS: dict[EventType, str] = {
    EventType.VIEW_DETAIL: "查看客户详情",
    EventType.EDIT: "修改客户信息",
    EventType.FOLLOW_UP: "更新客户跟进",
    EventType.CALL: "拨打客户电话",
    EventType.CREATE: "新建客户",
    EventType.ASSIGN: "转移客户",
    EventType.DELETE: "删除客户",
    EventType.EXPORT: "导出客户数据",
    EventType.OTHER: "其他操作",
}

# The seed's front end sends exactly these three texts.
_SEED_TEXTS = {
    "查看客户详情": EventType.VIEW_DETAIL,
    "修改客户信息": EventType.EDIT,
    "更新客户跟进": EventType.FOLLOW_UP,
}


def seed_texts() -> list[tuple[str, EventType]]:
    """The seed's three texts and their types (for inferring types inside SQL)."""
    return list(_SEED_TEXTS.items())


def infer_event_type(operation_event: str) -> EventType:
    """The type of a free-text event: the seed's three texts are known, the rest is ``other``."""
    return _SEED_TEXTS.get(operation_event.strip(), EventType.OTHER)


def parse_event_type(code: str) -> EventType:
    """A type code from a client; raises ``ValueError`` for an unknown one."""
    return EventType(code.strip())
