"""Whether one chained row is as its seal says: the check archive and erase share.

A chained row is intact when its ``chain_hash`` is the link over its ``chain_prev``, its
position and its content — its personal columns entering through the commitment its link was
made with, which for an erased row is the ledger's first ``before``, while the columns
themselves must match the ledger's last ``after``. How the rows of a chain link up is a
separate matter (:class:`infotrack.audit.archive_rows.RowChecker`, ``verify``'s chain walk).
A row of the CRM's own (no chain) that an erasure changed is held to the erasure all the same
(:func:`check_erased_row`): putting the erased number back is tampering too.

``verify`` applies the same rules in its own loop over plain tuples (``_check_rows``): that
loop runs ten million times per check and a mapping per row would double its time.
``tests/audit/test_row_seal.py`` holds the two to the same verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from infotrack.audit.chain import AuditKey
from infotrack.audit.ledger import ErasureLedger

FaultKind = Literal["malformed", "unregistered", "foreign", "altered_after_erasure", "altered"]


@dataclass(frozen=True, slots=True)
class RowFault:
    """Why a row fails its check: a kind to branch on and a sentence for people."""

    kind: FaultKind
    detail: str


def check_row(
    key: AuditKey,
    row: Mapping[str, Any],
    erasures: ErasureLedger,
    signers: Mapping[int, str] | None,
) -> RowFault | None:
    """Any trail row: a chained one against its seal, a CRM one against its erasure (if any)."""
    if row.get("chain_id") is None:
        return check_erased_row(key, row, erasures)
    return check_sealed_row(key, row, erasures, signers)


def check_sealed_row(
    key: AuditKey,
    row: Mapping[str, Any],
    erasures: ErasureLedger,
    signers: Mapping[int, str] | None,
) -> RowFault | None:
    """``None`` when the chained ``row`` (``chain_id`` set) is intact, else what is wrong.

    ``signers`` maps each registered chain to the id of the key that signs it; ``None`` when
    the caller vouches for the chains' key (an archive file: its manifest MAC already did).
    """
    chain_id, seq = row.get("chain_id"), row.get("chain_seq")
    prev, stored = row.get("chain_prev"), row.get("chain_hash")
    if not _is_int(chain_id) or not _is_int(seq) or seq < 1:
        return RowFault("malformed", "链字段不完整或不是整数(链ID或链内序号)")
    if signers is not None:
        signer = signers.get(chain_id)
        if signer is None:
            return RowFault("unregistered", f"该行所属的链 {chain_id} 未登记(伪造的行?)")
        if signer != key.key_id:
            return RowFault("foreign", f"链 {chain_id} 由另一个审计密钥签署,本密钥无法校验")
    row_id = row.get("id")
    if row_id in erasures.current:
        fault = check_erased_row(key, row, erasures)
        if fault is not None:
            return fault
        commitment = erasures.original[row_id]
    else:
        commitment = key.row_commitment(row)
    if not (
        isinstance(prev, str)
        and isinstance(stored, str)
        and key.link(prev, chain_id, seq, row, commitment) == stored
    ):
        return RowFault("altered", "内容与链哈希不符(该行被改动过)")
    return None


def check_erased_row(
    key: AuditKey, row: Mapping[str, Any], erasures: ErasureLedger
) -> RowFault | None:
    """For any row an erasure changed, the CRM's unchained ones too: ``None`` when its personal
    columns are still as the last erasure left them (or no erasure touched it)."""
    row_id: Any = row.get("id")
    expected = erasures.current.get(row_id)
    if expected is None or key.row_commitment(row) == expected:
        return None
    return RowFault("altered_after_erasure", "删除个人信息之后,该行的个人信息字段又被改动")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
