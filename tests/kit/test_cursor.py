"""Keyset-pagination cursors: opaque, URL-safe, signed; anything altered is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from infotrack.kit.cursor import InvalidCursor, decode_cursor, encode_cursor

KEY = "cursor-key-for-tests"


@pytest.mark.parametrize(
    "values",
    [
        ["2026-11-27T09:30:00", 123],
        [None, 7],
        ["2026-11-27T09:30:00", 2**53],
        ["张伟", "销售一部", 1.5, True, None],
        [],
    ],
)
def test_roundtrip(values: list[Any]) -> None:
    cursor = encode_cursor(values, KEY)
    assert decode_cursor(cursor, KEY) == values


def test_cursor_is_opaque_and_url_safe() -> None:
    cursor = encode_cursor(["2026-11-27T09:30:00", 123], KEY)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "2026" not in cursor
    # the same position always gives the same cursor; another position another one
    assert cursor == encode_cursor(["2026-11-27T09:30:00", 123], KEY)
    assert cursor != encode_cursor(["2026-11-27T09:30:00", 124], KEY)


def _raw(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def _pack(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_an_altered_payload_is_refused() -> None:
    raw = _raw(encode_cursor(["2026-11-27T09:30:00", 123], KEY))
    sig, payload = raw[:12], raw[12:]
    moved = payload.replace(b"123", b"999")
    assert moved != payload
    with pytest.raises(InvalidCursor):
        decode_cursor(_pack(sig + moved), KEY)


def test_every_single_flipped_byte_is_refused() -> None:
    raw = _raw(encode_cursor(["2026-11-27T09:30:00", 123], KEY))
    for index in range(len(raw)):
        changed = bytearray(raw)
        changed[index] ^= 0x01
        with pytest.raises(InvalidCursor):
            decode_cursor(_pack(bytes(changed)), KEY)


def test_another_key_is_refused() -> None:
    cursor = encode_cursor(["2026-11-27T09:30:00", 123], "another-deployment")
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, KEY)


@pytest.mark.parametrize(
    "cursor",
    ["", "garbage", "!!!!", "a", "AAAA", "é", _pack(b"short")],
)
def test_garbage_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, KEY)


def test_a_truncated_or_extended_cursor_is_refused() -> None:
    cursor = encode_cursor(["2026-11-27T09:30:00", 123], KEY)
    for bad in (cursor[:-1], cursor[:-4], cursor[:16], cursor + "A", cursor + "AAAA"):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad, KEY)


@pytest.mark.parametrize("payload", [b'{"at": 1}', b'"text"', b"42", b"not json", b"\xff\xfe"])
def test_a_signed_payload_that_is_not_a_list_is_refused(payload: bytes) -> None:
    sig = hmac.new(KEY.encode(), payload, hashlib.sha256).digest()[:12]
    with pytest.raises(InvalidCursor):
        decode_cursor(_pack(sig + payload), KEY)


def test_invalid_cursor_is_a_value_error() -> None:
    assert issubclass(InvalidCursor, ValueError)
    assert json.loads(_raw(encode_cursor([1], KEY))[12:]) == [1]
