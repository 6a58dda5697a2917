"""The per-row seal check archive and erase share agrees with ``verify``'s own loop.

Both are fed the same trail, tampered with directly in the database in every way a single row
can be; each must fault exactly the tampered rows, for the same reason.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, select, type_coerce

from infotrack.audit.chain import TIME_COLUMNS, VERIFY_COLUMNS
from infotrack.audit.ledger import load_erasures
from infotrack.audit.row_seal import check_row
from infotrack.audit.verify import verify_trail
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.models.audit import TrailChain
from infotrack.models.informationtra import informationtra as T
from tests.audit.conftest import append_chained, audit_key, crm_row, draft, execute
from tests.conftest import run_cli


def stored_rows(sources: Sources) -> list[dict[str, Any]]:
    """Every trail row as erase reads it (times as the driver returns them)."""
    columns = [
        type_coerce(T.c[name], String()).label(name) if name in TIME_COLUMNS else T.c[name]
        for name in VERIFY_COLUMNS
    ]
    with sources.wechat.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(*columns).order_by(T.c.id))]


def faults(settings: Settings, sources: Sources) -> dict[int, str]:
    key = audit_key(settings)
    with sources.wechat.connect() as conn:
        erasures = load_erasures(conn, key)
        signers = {
            int(c): str(k) for c, k in conn.execute(select(TrailChain.id, TrailChain.key_id))
        }
    found = {}
    for row in stored_rows(sources):
        fault = check_row(key, row, erasures, signers)
        if fault is not None:
            found[row["id"]] = fault.kind
    return found


def test_an_intact_trail_passes_both(settings: Settings, sources: Sources) -> None:
    append_chained(sources, settings, [draft(f"u{i}") for i in range(5)])
    append_chained(sources, settings, [draft("u9", text="查看客户详情 13800138000")])
    assert run_cli(settings, "erase", "--phone", "13800138000", "--yes").returncode == 0
    assert faults(settings, sources) == {}
    assert verify_trail(settings, sources.wechat).ok


def test_each_single_row_tampering_is_faulted_by_both(settings: Settings, sources: Sources) -> None:
    ids = append_chained(
        sources, settings, [draft(f"u{i}", text=f"查看客户详情 {i}") for i in range(8)]
    )
    erased = append_chained(sources, settings, [draft("u9", text="查看客户详情 13800138000")])[0]
    assert run_cli(settings, "erase", "--phone", "13800138000", "--yes").returncode == 0
    plain, personal, timed, unregistered = ids[1], ids[3], ids[5], ids[7]
    execute(sources, "UPDATE informationtra SET trauserName = '李四' WHERE id = :id", id=plain)
    execute(sources, "UPDATE informationtra SET userId = 'u-x' WHERE id = :id", id=personal)
    execute(
        sources,
        "UPDATE informationtra SET operationTime = '2020-01-01 00:00:00' WHERE id = :id",
        id=timed,
    )
    execute(sources, "UPDATE informationtra SET chain_id = 999 WHERE id = :id", id=unregistered)
    execute(
        sources, "UPDATE informationtra SET operationEvent = '已恢复' WHERE id = :id", id=erased
    )

    assert faults(settings, sources) == {
        plain: "altered",
        personal: "altered",
        timed: "altered",
        unregistered: "unregistered",
        erased: "altered_after_erasure",
    }
    report = verify_trail(settings, sources.wechat)
    named = {p.row_id for p in report.problems if p.row_id is not None}
    assert named == {plain, personal, timed, unregistered, erased}
    altered = {p.row_id for p in report.problems if p.kind == "altered"}
    assert altered == {plain, personal, timed, erased}


def test_a_crm_row_put_back_after_its_erasure_is_faulted_by_both(
    settings: Settings, sources: Sources
) -> None:
    append_chained(sources, settings, [draft("u1")])
    crm = crm_row(sources, "u2", operationEvent="客户来电 13800138000,已回电")
    untouched = crm_row(sources, "u3", operationEvent="客户来电 13900139000")
    assert run_cli(settings, "erase", "--phone", "13800138000", "--yes").returncode == 0
    assert faults(settings, sources) == {}
    assert verify_trail(settings, sources.wechat).ok

    execute(
        sources,
        "UPDATE informationtra SET operationEvent = '客户来电 13800138000' WHERE id = :id",
        id=crm,
    )
    execute(
        sources, "UPDATE informationtra SET operationEvent = '改过' WHERE id = :id", id=untouched
    )
    # A CRM row no erasure touched vouches for nothing; the erased one is held to its erasure.
    assert faults(settings, sources) == {crm: "altered_after_erasure"}
    report = verify_trail(settings, sources.wechat)
    assert [(p.kind, p.row_id) for p in report.problems] == [("altered", crm)]
    # And the next erasure will not launder it.
    again = run_cli(settings, "erase", "--phone", "13800138000", "--yes")
    assert again.returncode == 1
    assert f"未通过防篡改校验的行:{crm}" in again.stderr
