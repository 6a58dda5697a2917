"""Hiding phone numbers inside free text: ``138****8000``.

Recognised: mainland mobiles (with or without ``+86``/``86``), landlines with an area code,
400/800 numbers and ``+``-prefixed foreign numbers, with spaces or dashes inside. Dates and
prices do not look like any of those and stay readable.
"""

from __future__ import annotations

import re
from typing import Any

from infotrack.kit.phone import mask_digits

_SEP = r"[\s-]?"
_PHONE_LIKE = re.compile(
    r"(?<![\d*])(?:"
    rf"(?:(?:\+|00)?86{_SEP})?1[3-9]\d(?:{_SEP}\d){{8}}"  # mobile
    rf"|(?:(?:\+|00)?86{_SEP})?\(?0\d{{2,3}}\)?{_SEP}\d{{3,4}}{_SEP}\d{{4}}"  # landline
    rf"|[48]00{_SEP}\d{{3}}{_SEP}\d{{4}}"  # 400 / 800
    r"|\+(?!86)\d[\d\s()-]{6,18}\d"  # foreign, always written with +
    r")(?![\d*])"
)
_NON_DIGITS = re.compile(r"\D")


def _mask_match(match: re.Match[str]) -> str:
    digits = _NON_DIGITS.sub("", match.group(0))
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) >= 12:  # +86 138…, 86 010…
        digits = digits[2:]
    return mask_digits(digits)


def mask_phones(text: str | None) -> str | None:
    """The text with every phone-like number masked."""
    if not text:
        return text
    return _PHONE_LIKE.sub(_mask_match, text)


def mask_value(value: Any) -> Any:
    """Mask strings (and digit-only numbers) inside a JSON-like value."""
    if isinstance(value, str):
        return mask_phones(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1_000_000:
        masked = mask_phones(str(value))
        return value if masked == str(value) else masked  # a number that is no phone stays one
    if isinstance(value, list):
        return [mask_value(item) for item in value]
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    return value
