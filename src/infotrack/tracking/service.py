"""From a validated request to a :class:`RecordDraft`: phone, event, customer, identity."""

from __future__ import annotations

import json

from infotrack.auth.identity import Identity
from infotrack.customers.service import CustomerResolver
from infotrack.errors import (
    BadRequest,
    CustomerNotFound,
    Forbidden,
    PayloadTooLarge,
    UnknownEventType,
)
from infotrack.kit.phone import parse_phone
from infotrack.tracking.events import EventType, infer_event_type
from infotrack.tracking.recorder import RecordDraft, new_request_id
from infotrack.tracking.schemas import RecordRequest

# The seed's operationEvent is a MySQL TEXT: 65 535 bytes, and utf8mb4 takes up to 4 a character.
MAX_TEXT_BYTES = 65_535


def side_of(is_supply_side: bool) -> str:
    """The seed's ``isSupplySide`` flag as a side code."""
    return "supply" if is_supply_side else "sales"


def check_side(identity: Identity, side: str) -> None:
    """An identity bound to one side may not record for the other."""
    if identity.side and identity.side != side:
        wanted = "供应端" if side == "supply" else "销售端"
        own = "供应端" if identity.side == "supply" else "销售端"
        raise Forbidden(f"当前账号属于{own},不能以{wanted}身份记录操作", code="side_mismatch")


async def build_draft(
    body: RecordRequest,
    identity: Identity,
    side: str,
    client_addr: str | None,
    resolver: CustomerResolver,
    default_region: str,
) -> RecordDraft:
    """Validate the event and resolve its customer; raises the matching :class:`AppError`."""
    text = body.operationEvent  # kept as written; only an all-blank text is refused
    if not text.strip():
        raise BadRequest("电话号码和操作事件不能为空", code="missing_field")
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise PayloadTooLarge(
            f"操作事件过长:最多 {MAX_TEXT_BYTES} 字节(UTF-8)", code="operation_event_too_long"
        )
    event_type = _event_type(body.eventType, text)
    changes_json = None
    if body.changes:
        changes_json = json.dumps(
            [change.model_dump() for change in body.changes], ensure_ascii=False
        )
        if len(changes_json.encode("utf-8")) > MAX_TEXT_BYTES:
            raise PayloadTooLarge("变更明细过长", code="changes_too_long")

    raw_phone = str(body.phoneNumber)
    if not raw_phone.strip():
        raise BadRequest("电话号码和操作事件不能为空", code="missing_field")
    phone = parse_phone(raw_phone, default_region)
    customer = await resolver.find(phone)
    if customer is None:
        raise CustomerNotFound()
    return RecordDraft(
        operator=identity.operator,
        customer_id=customer.id,
        customer_source=customer.source,
        event_type=event_type,
        operation_event=text,
        side=side,
        request_id=body.requestId or new_request_id(),
        idempotent=body.requestId is not None,
        client_addr=client_addr,
        changes_json=changes_json,
    )


def _event_type(code: str | None, text: str) -> str:
    if code is None or not code.strip():
        return infer_event_type(text).value
    try:
        return EventType(code.strip()).value
    except ValueError:
        allowed = ", ".join(e.value for e in EventType)
        raise UnknownEventType(f"未知的事件类型 {code!r},可选:{allowed}") from None
