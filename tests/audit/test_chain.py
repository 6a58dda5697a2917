"""The chain's hashed form: fixed bytes, so a verifier written elsewhere can reproduce it."""

from __future__ import annotations

import hmac
import json
from datetime import datetime

import pytest

from infotrack.audit.chain import PLAIN_COLUMNS, AuditKey, ChainHead, fresh_head, seal

SECRET = b"a test key that is at least 32 bytes long"


def _derive(label: bytes) -> bytes:
    return hmac.digest(SECRET, label, "sha256")


def test_a_row_hash_is_hmac_over_prev_and_compact_utf8_json() -> None:
    key = AuditKey(SECRET)
    row = {name: f"值-{name}" for name in PLAIN_COLUMNS}
    row.update(operationTime=datetime(2026, 11, 27, 9, 30, 15), created_at=None)
    row.update(userId="u1", operationEvent="查看客户详情 13800138000", changes='[{"a":"\\n"}]')
    rows = [dict(row)]
    head = seal(key, fresh_head(key, 7), rows)

    # Rebuilt from the documented recipe with the standard library only.
    link_key = _derive(b"infotrack/chain-link/v1")
    personal_key = _derive(b"infotrack/personal-commitment/v1")

    def dumps(value: object) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()

    commitment = hmac.digest(
        personal_key, dumps([row["userId"], row["operationEvent"], row["changes"]]), "sha256"
    ).hex()
    genesis = hmac.digest(link_key, b"genesis:7", "sha256").hex()
    values: list[object] = [7, 1]
    for name in PLAIN_COLUMNS:
        value = row[name]
        values.append(str(value)[:19] if isinstance(value, datetime) else value)
    values.append(commitment)
    expected = hmac.digest(link_key, genesis.encode() + b"\n" + dumps(values), "sha256").hex()

    assert rows[0]["chain_prev"] == genesis
    assert rows[0]["chain_hash"] == expected
    assert head == ChainHead(7, 1, expected)
    assert key.key_id == hmac.digest(SECRET, b"infotrack/key-id/v1", "sha256").hex()[:16]


def test_fractions_of_a_second_are_cut_before_hashing_and_storing() -> None:
    key = AuditKey(SECRET)
    exact = {"operationTime": datetime(2026, 1, 1, 8, 0, 0)}
    fractional = {"operationTime": datetime(2026, 1, 1, 8, 0, 0, 999_999)}
    seal(key, fresh_head(key, 1), [exact])
    seal(key, fresh_head(key, 1), [fractional])
    assert fractional["operationTime"] == datetime(2026, 1, 1, 8, 0, 0)
    assert fractional["chain_hash"] == exact["chain_hash"]


def test_every_field_and_the_position_are_covered() -> None:
    key = AuditKey(SECRET)
    base = dict.fromkeys((*PLAIN_COLUMNS, "userId", "operationEvent", "changes"), "x")
    reference = key.link("p", 1, 1, base, key.row_commitment(base))
    for name in base:
        changed = dict(base, **{name: "y"})
        assert key.link("p", 1, 1, changed, key.row_commitment(changed)) != reference, name
        moved_to_none = dict(base, **{name: None})
        assert key.link("p", 1, 1, moved_to_none, key.row_commitment(moved_to_none)) != reference
    assert key.link("p", 1, 2, base, key.row_commitment(base)) != reference
    assert key.link("p", 2, 1, base, key.row_commitment(base)) != reference
    assert key.link("q", 1, 1, base, key.row_commitment(base)) != reference


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        AuditKey(b"short")
