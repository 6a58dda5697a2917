"""Phone numbers: one normal form for input, and the stored forms a CRM table may hold.

CRMs store the same number as ``13800138000``, ``+8613800138000`` or ``8613800138000``;
we never rewrite their tables, so a lookup matches all of those forms through the index.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from infotrack.errors import InvalidPhoneNumber

# Longer than any real number with separators; keeps the parser away from pasted essays.
MAX_INPUT_LENGTH = 40
_DIGITS = re.compile(r"\D+")
_SEPARATORS = re.compile(r"[\s\-().]+")
_MAINLAND_MOBILE = re.compile(r"^(?:\+86|0086|86)?(1[3-9]\d{9})$")
# Digits and the separators people type; letters (an extension, "13800138000x") are refused.
_ALLOWED = re.compile(r"^[\d\s+\-().]+$")


@dataclass(frozen=True, slots=True)
class Phone:
    """A validated phone number."""

    e164: str  # "+8613800138000"
    national: str  # digits as dialled at home: "13800138000", "01012345678", "4001234567"
    country_code: int
    is_mobile: bool

    @property
    def stored_forms(self) -> tuple[str, ...]:
        """Every spelling of this number we match in a customer table, most common first."""
        international = self.e164[1:]
        if self.country_code == 86:
            nsn = international[2:]
            return tuple(dict.fromkeys((self.national, self.e164, international, nsn)))
        return (self.e164, international, "00" + international)

    def masked(self) -> str:
        """The number with its middle hidden, e.g. ``138****8000``."""
        return mask_digits(self.national)


def mask_digits(digits: str) -> str:
    """Hide the middle of a run of digits, keeping 3 in front and 4 behind."""
    if len(digits) <= 7:
        return digits[:1] + "*" * (len(digits) - 2) + digits[-1:] if len(digits) > 2 else digits
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def parse_phone(text: str, default_region: str = "CN") -> Phone:
    """Validate and normalise a phone number as a CRM user types it.

    Accepts mainland mobiles (every current range), landlines with their area code, 400/800
    service numbers and ``+``-prefixed foreign numbers. Raises :class:`InvalidPhoneNumber`.
    """
    # NFKC folds full-width digits and punctuation (１３８, ＋, －) typed with a Chinese IME.
    candidate = unicodedata.normalize("NFKC", text).strip()
    if not candidate or len(candidate) > MAX_INPUT_LENGTH or not _ALLOWED.match(candidate):
        raise InvalidPhoneNumber()
    return _parse(candidate, default_region)


# A CRM's pages report the same few thousand numbers over and over; parsing is the costly part.
@lru_cache(maxsize=65_536)
def _parse(candidate: str, default_region: str) -> Phone:
    mobile = _MAINLAND_MOBILE.match(_SEPARATORS.sub("", candidate))
    if mobile and default_region == "CN":
        # Most input is a mainland mobile, whose validity depends on its first digits only:
        # the library is asked once per 7-digit prefix instead of once per number.
        nsn = mobile.group(1)
        if not _mobile_prefix_is_valid(nsn[:7]):
            raise InvalidPhoneNumber()
        return Phone(e164="+86" + nsn, national=nsn, country_code=86, is_mobile=True)
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    try:
        number = phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber() from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber()
    kind = phonenumbers.number_type(number)
    national = _DIGITS.sub("", phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
    return Phone(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        national=national,
        country_code=int(number.country_code or 0),
        is_mobile=kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE),
    )


@lru_cache(maxsize=100_000)
def _mobile_prefix_is_valid(prefix: str) -> bool:
    try:
        number = phonenumbers.parse(prefix + "0000", "CN")
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number)) and phonenumbers.number_type(number) in (
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def canonical_or_none(text: str | None, default_region: str = "CN") -> Phone | None:
    """Like :func:`parse_phone` but ``None`` for anything that is not a valid number."""
    if not text:
        return None
    try:
        return parse_phone(text, default_region)
    except InvalidPhoneNumber:
        return None
