"""Finding one customer's phone number in free text and JSON, in any way it was written.

An erasure must catch ``13800138000``, ``+86 138-0013-8000``, ``0086 138 0013 8000``,
``(010) 1234-5678`` and full-width digits typed with a Chinese IME alike, yet leave other
numbers alone: an order number that merely contains the digits is not the phone. So the pattern
is built from the number itself — its digits in order, with up to three separators between
any two, an optional country prefix and trunk ``0`` — and must not touch another digit on
either side. The one blind spot is the SQL prefilter (:func:`like_fragments`): a form whose
last four digits are split by a separator is found only in the customer's own rows, which
are read in full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from infotrack.kit.phone import Phone

# Spaces (U+3000 included), hyphens and dashes, dots and parentheses, half- and full-width.
_SEP = "[\\s\\-.()\u2010-\u2015\u2212\uff08\uff09\uff0d\uff0e]{0,3}"
_OPEN = "[(\uff08]?"
_PLUS = "[+\uff0b]"
_FULL_WIDTH_ZERO = 0xFF10


def _digit(d: str) -> str:
    return f"[{d}{chr(_FULL_WIDTH_ZERO + int(d))}]"


def _digits(run: str) -> str:
    return _SEP.join(_digit(d) for d in run)


def phone_pattern(phone: Phone) -> re.Pattern[str]:
    """Every written form of ``phone``, not glued to other digits."""
    cc = str(phone.country_code)
    nsn = phone.e164[1 + len(cc) :]  # the national significant number
    national = phone.national
    trunk = national[: -len(nsn)] if national.endswith(nsn) and national != nsn else ""
    international = f"(?:{_PLUS}|{_digit('0')}{_digit('0')}){_SEP}"
    prefix = f"(?:(?:{international})?{_digits(cc)}{_SEP})?"
    trunk_part = f"(?:{_digits(trunk)}{_SEP})?" if trunk else ""
    return re.compile(f"(?<!\\d){_OPEN}{prefix}{trunk_part}{_digits(nsn)}(?!\\d)")


def like_fragments(phone: Phone) -> tuple[str, ...]:
    """Substrings every usual form contains, for a ``LIKE`` prefilter: the last four digits,
    half- and full-width (SQLite's LIKE does not equate them; MySQL's collations do)."""
    tail = phone.e164[-4:]
    full = "".join(chr(_FULL_WIDTH_ZERO + int(d)) for d in tail)
    return (tail, full)


class PhoneScrubber:
    """Replaces the given numbers wherever they occur."""

    def __init__(self, phones: Sequence[Phone]) -> None:
        self._patterns = [phone_pattern(phone) for phone in phones]

    def text(self, value: str | None, replacement: str) -> str | None:
        """``value`` with every occurrence replaced (``None`` stays ``None``)."""
        if not value:
            return value
        for pattern in self._patterns:
            value = pattern.sub(lambda m: _replace(m, replacement), value)
        return value

    def found_in(self, value: str | None) -> bool:
        """True when ``value`` holds one of the numbers."""
        return value is not None and any(p.search(value) for p in self._patterns)

    def json_text(self, value: str | None, replacement: str) -> str | None:
        """A JSON document with the numbers replaced in its strings, keys and whole numbers,
        still valid JSON; text that is not JSON is scrubbed as text. A document with nothing
        to replace is returned byte for byte (it is re-serialised only when it changed)."""
        if not value:
            return value
        try:
            document = json.loads(value)
        except ValueError:
            return self.text(value, replacement)
        changed = _walk(document, lambda s: self.text(s, replacement) or s)
        return value if changed == document else json.dumps(changed, ensure_ascii=False)


def _replace(match: re.Match[str], replacement: str) -> str:
    """The replacement; an opening parenthesis the number does not close stays in the text
    (``客户(13800138000)`` keeps its parentheses, ``(010) 1234 5678`` goes whole)."""
    found = match.group(0)
    if found[0] in "(\uff08" and not any(c in found for c in ")\uff09"):
        return found[0] + replacement
    return replacement


def _walk(value: Any, scrub: Callable[[str], str]) -> Any:
    """A copy of a JSON value with ``scrub`` applied to its strings, keys and whole numbers
    (a number that held the phone becomes a string: the pseudonym is text)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        as_text = str(int(value))
        scrubbed = scrub(as_text)
        return value if scrubbed == as_text else scrubbed
    if isinstance(value, list):
        return [_walk(item, scrub) for item in value]
    if isinstance(value, dict):
        return {scrub(key): _walk(item, scrub) for key, item in value.items()}
    return value
