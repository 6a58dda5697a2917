"""Whose data an erasure removes: the phone numbers to scrub and the customers whose rows to read.

``--phone`` names the number itself; the customers stored under it in either CRM source are
added so that their rows are read in full (the trail does not store phones in a column of
its own: they appear in the texts). A customer the CRM has already deleted is still found
through the texts that mention the number. ``--customer source:id`` takes the number(s) the
CRM still holds for that customer; once the CRM has forgotten them, ``--phone`` must say
which number to erase.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from infotrack.audit.phone_scrub import PhoneScrubber
from infotrack.config import Settings
from infotrack.customers.service import CustomerResolver
from infotrack.db import Sources
from infotrack.errors import BadRequest, NotFound
from infotrack.kit.phone import Phone, canonical_or_none, mask_digits, parse_phone
from infotrack.models.customers import customer_sources

SOURCES = ("wechat", "primary")


@dataclass(frozen=True, slots=True)
class ErasureSubject:
    """The numbers to erase, the customers whose rows are read in full, and how the request is
    recorded (``label``: masked numbers and customer ids, never a full number)."""

    phones: tuple[Phone, ...]
    customers: tuple[tuple[str, str], ...]
    label: str
    # Numbers the CRM holds for the customer that are no valid phone (masked), not erased.
    unusable: tuple[str, ...] = ()

    def scrubber(self) -> PhoneScrubber:
        """A scrubber for this subject's numbers."""
        return PhoneScrubber(self.phones)

    def masked(self, text: str) -> str:
        """``text`` with the subject's numbers shown masked (for what is logged or printed)."""
        for phone in self.phones:
            text = PhoneScrubber([phone]).text(text, phone.masked()) or text
        return text


def parse_customer_ref(text: str) -> tuple[str, str]:
    """``wechat:u1`` / ``primary:42`` as (source, id)."""
    source, sep, customer_id = text.strip().partition(":")
    if not sep or source not in SOURCES or not customer_id.strip():
        raise BadRequest(
            "--customer 的格式为 来源:客户ID,来源为 wechat 或 primary,例如 wechat:u1",
            code="invalid_customer",
        )
    return source, customer_id.strip()


def customer_phones(
    settings: Settings, sources: Sources, source: str, customer_id: str
) -> list[str] | None:
    """The numbers the CRM stores for a customer (``None`` when the customer is gone)."""
    for spec, engine in zip(
        customer_sources(settings), (sources.wechat, sources.primary), strict=True
    ):
        if spec.code != source:
            continue
        tbl = spec.lookup_table()
        query = select(tbl.c[spec.phone_column]).where(tbl.c[spec.id_column] == customer_id)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        return [str(row[0]) for row in rows if row[0] is not None] if rows else None
    raise AssertionError(source)  # parse_customer_ref admits known sources only


def resolve_subject(
    settings: Settings, sources: Sources, *, phone: str | None, customer: str | None
) -> ErasureSubject:
    """The subject of ``erase --phone`` and/or ``--customer`` (both may be given)."""
    if not phone and not customer:
        raise BadRequest("请用 --phone 或 --customer 指定客户", code="missing_subject")
    phones: dict[str, Phone] = {}
    customers: dict[tuple[str, str], None] = {}
    labels: list[str] = []
    unusable: list[str] = []
    if customer:
        source, customer_id = parse_customer_ref(customer)
        customers[(source, customer_id)] = None
        labels.append(f"customer:{source}:{customer_id}")
        stored = customer_phones(settings, sources, source, customer_id)
        if stored is None and not phone:
            raise NotFound(
                f"客户 {source}:{customer_id} 已不在 CRM 中,无法得知其电话号码:"
                "请同时用 --phone 指定要删除的号码",
                code="customer_not_found",
            )
        for raw in stored or []:
            parsed = canonical_or_none(raw, settings.default_region)
            if parsed is None:
                unusable.append(mask_digits("".join(c for c in raw if c.isdigit())))
            else:
                phones[parsed.e164] = parsed
        if not phones and not phone:
            raise BadRequest(
                f"客户 {source}:{customer_id} 在 CRM 中没有可识别的电话号码:"
                "请用 --phone 指定要删除的号码",
                code="customer_without_phone",
            )
    if phone:
        parsed = parse_phone(phone, settings.default_region)
        phones[parsed.e164] = parsed
        labels.append(f"phone:{parsed.masked()}")
        for ref in CustomerResolver(sources, settings).all_matches(parsed):
            customers[ref] = None
    subject = ErasureSubject(tuple(phones.values()), tuple(customers), "", tuple(unusable))
    # A customer id may itself be the phone number (some CRMs key customers by it).
    label = subject.masked(" ".join(labels))[:255]
    return ErasureSubject(subject.phones, subject.customers, label, subject.unusable)
