"""``infotrack erase``: a customer's number leaves the trail, the chain still checks out.

Rows are appended through the real recorder (chained) and, for the CRM's own rows, with plain
SQL; the real CLI erases; the checks read the database directly. The chain check here uses
:mod:`infotrack.audit.chain` and the erasure ledger the way the verifier does: an erased row
links with its first ``before`` commitment and its content must match its last ``after``.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from infotrack.audit.chain import VERIFY_COLUMNS
from infotrack.audit.ledger import erased_row_document, erasure_document, load_erasures
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.models.audit import ErasedRow, Erasure, TrailArchive
from infotrack.models.informationtra import informationtra
from tests.audit.conftest import append_chained, audit_key, crm_row, draft, execute
from tests.conftest import add_contact, add_user, run_cli

NUMBER = "13800138000"  # the customer asking for erasure
OTHER = "13900139000"  # another customer's, never touched
THIRD = "13700137000"
_SEPARATORS = re.compile(r"[\s\-.()+]")


def digits(value: str | None) -> str:
    """The text as a number check sees it: full-width folded, separators removed."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", value or ""))


def holds(value: str | None, number: str = NUMBER) -> bool:
    return number in digits(value)


def raw_rows(sources: Sources) -> dict[int, dict[str, Any]]:
    """Every row as the driver returns it (SQLite: times as stored text)."""
    with sources.wechat.connect() as conn:
        rows = conn.execute(text("SELECT * FROM informationtra ORDER BY id")).mappings().all()
    return {int(r["id"]): dict(r) for r in rows}


def table(sources: Sources, name: str) -> list[dict[str, Any]]:
    with sources.wechat.connect() as conn:
        rows = conn.execute(text(f"SELECT * FROM {name} ORDER BY id")).mappings().all()
    return [dict(r) for r in rows]


def chain_problems(settings: Settings, sources: Sources) -> list[str]:
    """Every chained row checked as the verifier does; ledger MACs included."""
    key = audit_key(settings)
    cols = [informationtra.c[name] for name in VERIFY_COLUMNS]
    with sources.wechat.connect() as conn:
        ledger = load_erasures(conn, key)
        rows = (
            conn.execute(
                select(*cols)
                .where(informationtra.c.chain_id.is_not(None))
                .order_by(informationtra.c.chain_id, informationtra.c.chain_seq)
            )
            .mappings()
            .all()
        )
    problems = [f"ledger {p.table} #{p.entry_id}: {p.detail}" for p in ledger.problems]
    hashes: dict[tuple[int, int], str] = {}
    for row in rows:
        row_id, chain_id, seq = row["id"], row["chain_id"], int(row["chain_seq"])
        made = key.row_commitment(row)
        if row_id in ledger.current:
            if made != ledger.current[row_id]:
                problems.append(f"row {row_id}: content differs from its last erasure")
            made = ledger.original[row_id]
        expected_prev = key.genesis(chain_id) if seq == 1 else hashes.get((chain_id, seq - 1))
        if row["chain_prev"] != expected_prev:
            problems.append(f"row {row_id}: does not link to its predecessor")
        if key.link(row["chain_prev"], chain_id, seq, row, made) != row["chain_hash"]:
            problems.append(f"row {row_id}: link does not match")
        hashes[(chain_id, seq)] = row["chain_hash"]
    return problems


def archived_earlier(sources: Sources, file_name: str) -> None:
    """An archive ledger entry, as ``infotrack archive`` leaves one (contents do not matter)."""
    when = datetime(2026, 1, 1)
    with sources.wechat.begin() as conn:
        conn.execute(
            insert(TrailArchive).values(
                created_at=when,
                operator="cli:root@host",
                file_name=file_name,
                file_sha256="0" * 64,
                before=when,
                row_count=10,
                chains="{}",
                manifest="{}",
                mac="0" * 64,
            )
        )


def erase(settings: Settings, *args: str) -> Any:
    return run_cli(settings, "erase", *args)


def subject_trail(sources: Sources, settings: Settings) -> dict[str, int]:
    """The customer (wechat u1, and a primary contact) mentioned in every usual form, others'
    rows around them, and CRM rows; row ids by name."""
    add_user(sources, "u1", "86" + NUMBER, "陈女士")
    contact = add_contact(sources, NUMBER, "陈女士")
    add_user(sources, "u2", OTHER, "刘先生")
    ids = append_chained(
        sources,
        settings,
        [
            draft("u1", text=f"查看客户详情 {NUMBER}"),
            draft("u1", text="致电 +86 138-0013-8000 确认需求", event_type="follow_up"),
            draft(
                contact,
                source="primary",
                event_type="edit",
                text="修改客户信息",
                changes=[
                    {"field": "phone", "old": "138 0013 8000", "new": "１３８００１３８０００"},
                    {"field": "mobile", "old": int("86" + NUMBER), "new": None},
                ],
            ),
            draft("u2", text=f"查看客户详情 {OTHER}"),
            draft("u2", event_type="edit", text="修改客户信息", changes=[{"field": "level"}]),
            draft("wx_" + NUMBER, text="查看客户详情"),  # a CRM keyed by phone
        ],
    )
    names = ["plain", "dashed", "changes", "other", "other_changes", "keyed"]
    found = dict(zip(names, ids, strict=True))
    found["crm"] = crm_row(sources, "u1", operationEvent="客户来电 0086 138 0013 8000,已回电")
    found["crm_other"] = crm_row(sources, "u2", operationEvent=f"客户来电 {OTHER}")
    found["unrelated"] = append_chained(sources, settings, [draft("u3", text="查看客户详情")])[0]
    return found


def test_erase_by_phone_leaves_no_form_of_the_number_and_the_chain_checks_out(
    settings: Settings, sources: Sources
) -> None:
    ids = subject_trail(sources, settings)
    appended = time.monotonic()
    before = raw_rows(sources)
    untouched = {ids[n] for n in ("other", "other_changes", "crm_other", "unrelated")}
    assert chain_problems(settings, sources) == []
    # MySQL's seed table stamps updated_at ON UPDATE: let a second pass so a stamp would show.
    time.sleep(max(0.0, 1.1 - (time.monotonic() - appended)))

    result = erase(
        settings,
        "--phone",
        "+86 138-0013-8000",
        "--reason",
        f"客户 {NUMBER} 依法申请删除",
        "--by",
        "王审计",
        "--yes",
    )
    assert result.returncode == 0, result.stderr
    assert NUMBER not in result.stdout + result.stderr
    assert "修改 5 行" in result.stdout

    after = raw_rows(sources)
    assert after.keys() == before.keys()
    for row_id, row in after.items():
        for column in ("userId", "operationEvent", "changes"):
            assert not holds(row[column]), (row_id, column, row[column])
        if row["changes"] is not None:
            json.loads(row["changes"])  # still JSON
        if row_id in untouched:
            assert row == before[row_id]
        else:
            changed = {k for k in row if row[k] != before[row_id][k]}
            assert changed, row_id
            assert changed <= {"userId", "operationEvent", "changes"}, changed
    (erasure,) = table(sources, "infotrack_erasures")
    pseudonym = f"[已删除#E{erasure['id']}]"
    assert after[ids["plain"]]["operationEvent"] == f"查看客户详情 {pseudonym}"
    assert after[ids["dashed"]]["operationEvent"] == f"致电 {pseudonym} 确认需求"
    assert after[ids["crm"]]["operationEvent"] == f"客户来电 {pseudonym},已回电"
    assert after[ids["keyed"]]["userId"] == "wx_" + pseudonym
    assert json.loads(after[ids["changes"]]["changes"]) == [
        {"field": "phone", "old": pseudonym, "new": pseudonym},
        {"field": "mobile", "old": pseudonym, "new": None},
    ]

    assert chain_problems(settings, sources) == []
    key = audit_key(settings)
    assert erasure["subject"] == "phone:138****8000"
    assert erasure["reason"] == "客户 138****8000 依法申请删除"
    assert erasure["row_count"] == 5
    assert "王审计" in erasure["operator"]
    assert key.check_mac(
        erasure_document(
            erasure["id"],
            erasure["erased_at"],
            erasure["operator"],
            erasure["subject"],
            erasure["reason"],
            erasure["row_count"],
            erasure["key_id"],
        ),
        erasure["mac"],
    )
    entries = table(sources, "infotrack_erased_rows")
    assert sorted(e["row_id"] for e in entries) == sorted(set(after) - untouched)
    for entry in entries:
        document = erased_row_document(
            entry["erasure_id"], entry["row_id"], entry["before"], entry["after"]
        )
        assert key.check_mac(document, entry["mac"])
        assert entry["after"] == key.row_commitment(after[entry["row_id"]])
        assert entry["before"] == key.row_commitment(before[entry["row_id"]])

    (entry,) = [e for e in table(sources, "infotrack_access_log") if e["action"] == "erase"]
    assert entry["row_count"] == 5
    assert not holds(entry["filters"])
    assert json.loads(entry["filters"]) == {
        "subject": "phone:138****8000",
        "rows": 5,
        "erasureId": erasure["id"],
        "reason": "客户 138****8000 依法申请删除",
    }


def test_a_row_erased_twice_chains_its_ledger_entries(settings: Settings, sources: Sources) -> None:
    both, alone = append_chained(
        sources,
        settings,
        [draft("u1", text=f"客户 {NUMBER} 推荐了 {THIRD}"), draft("u9", text=f"电话 {THIRD}")],
    )
    first = erase(settings, "--phone", NUMBER, "--yes")
    assert first.returncode == 0, first.stderr
    again = erase(settings, "--phone", NUMBER, "--yes")  # nothing left of that number
    assert again.returncode == 0, again.stderr
    assert "修改 0 行" in again.stdout
    second = erase(settings, "--phone", THIRD, "--yes")
    assert second.returncode == 0, second.stderr

    rows = raw_rows(sources)
    assert rows[both]["operationEvent"] == "客户 [已删除#E1] 推荐了 [已删除#E3]"
    assert rows[alone]["operationEvent"] == "电话 [已删除#E3]"
    entries = [e for e in table(sources, "infotrack_erased_rows") if e["row_id"] == both]
    assert [e["erasure_id"] for e in entries] == [1, 3]
    assert entries[1]["before"] == entries[0]["after"]
    assert [e["row_count"] for e in table(sources, "infotrack_erasures")] == [1, 0, 2]
    assert chain_problems(settings, sources) == []


def test_erase_by_customer_takes_the_number_the_crm_holds(
    settings: Settings, sources: Sources
) -> None:
    add_user(sources, "u1", NUMBER)
    ids = append_chained(
        sources,
        settings,
        [
            draft("u1", text=f"致电 {NUMBER[:3]} {NUMBER[3:7]} {NUMBER[7:]}"),
            draft("u2", text=OTHER),
        ],
    )
    elsewhere = crm_row(sources, "u7", operationEvent=f"u1 的家属来电,留了 {NUMBER}")
    archived_earlier(sources, "trail-2025.tar.gz")
    result = erase(settings, "--customer", "wechat:u1", "--yes")
    assert result.returncode == 0, result.stderr
    assert "1 个归档可能仍含该客户的号码" in result.stderr
    assert "trail-2025.tar.gz" in result.stderr
    rows = raw_rows(sources)
    assert rows[ids[0]]["operationEvent"] == "致电 [已删除#E1]"
    assert rows[elsewhere]["operationEvent"] == "u1 的家属来电,留了 [已删除#E1]"
    assert rows[ids[1]]["operationEvent"] == OTHER
    (erasure,) = table(sources, "infotrack_erasures")
    assert erasure["subject"] == "customer:wechat:u1"
    assert chain_problems(settings, sources) == []


def test_a_customer_the_crm_no_longer_has_needs_the_number(
    settings: Settings, sources: Sources
) -> None:
    (row_id,) = append_chained(sources, settings, [draft("42", source="primary", text=NUMBER)])
    gone = erase(settings, "--customer", "primary:42", "--yes")
    assert gone.returncode == 1
    assert "已不在 CRM 中" in gone.stderr
    assert table(sources, "infotrack_erasures") == []

    named = erase(settings, "--customer", "primary:42", "--phone", NUMBER, "--yes")
    assert named.returncode == 0, named.stderr
    assert raw_rows(sources)[row_id]["operationEvent"] == "[已删除#E1]"
    (erasure,) = table(sources, "infotrack_erasures")
    assert erasure["subject"] == "customer:primary:42 phone:138****8000"


def test_dry_run_and_a_declined_confirmation_write_nothing(
    settings: Settings, sources: Sources
) -> None:
    subject_trail(sources, settings)
    before = raw_rows(sources)
    log_before = table(sources, "infotrack_access_log")

    dry = erase(settings, "--phone", NUMBER, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "将修改 5 行(userId 1 行,operationEvent 3 行,changes 1 行)" in dry.stdout
    assert "未写入任何内容" in dry.stdout

    declined = run_cli(settings, "erase", "--phone", NUMBER, input="n\n")
    assert declined.returncode != 0

    assert raw_rows(sources) == before
    assert table(sources, "infotrack_erasures") == []
    assert table(sources, "infotrack_erased_rows") == []
    assert table(sources, "infotrack_access_log") == log_before


@pytest.mark.parametrize("column", ["operationEvent", "trauserName"])
def test_a_tampered_row_stops_the_erasure_before_anything_changes(
    settings: Settings, sources: Sources, column: str
) -> None:
    ids = append_chained(
        sources,
        settings,
        [draft("u1", text=f"查看客户详情 {NUMBER}"), draft("u1", text=f"致电 {NUMBER}")],
    )
    quote = '"' if sources.wechat.dialect.name == "sqlite" else "`"
    execute(
        sources,
        f"UPDATE informationtra SET {quote}{column}{quote} = :v WHERE id = :id",
        v=f"查看客户详情 {NUMBER} 和备注" if column == "operationEvent" else "李四",
        id=ids[1],
    )
    before = raw_rows(sources)

    result = erase(settings, "--phone", NUMBER, "--yes")
    assert result.returncode == 1
    assert "拒绝删除" in result.stderr
    assert f"未通过防篡改校验的行:{ids[1]}" in result.stderr
    assert raw_rows(sources) == before
    assert table(sources, "infotrack_erasures") == []
    assert table(sources, "infotrack_erased_rows") == []


def test_a_row_changed_after_its_erasure_stops_the_next_one(
    settings: Settings, sources: Sources
) -> None:
    (row_id,) = append_chained(sources, settings, [draft("u1", text=f"{NUMBER} / {THIRD}")])
    assert erase(settings, "--phone", NUMBER, "--yes").returncode == 0
    execute(
        sources,
        "UPDATE informationtra SET operationEvent = :v WHERE id = :id",
        v=f"{NUMBER} / {THIRD}",  # the erased number put back
        id=row_id,
    )
    result = erase(settings, "--phone", THIRD, "--yes")
    assert result.returncode == 1
    assert f"未通过防篡改校验的行:{row_id}" in result.stderr
    with sources.wechat.connect() as conn:
        assert conn.execute(select(ErasedRow.row_id)).scalars().all() == [row_id]
        assert len(conn.execute(select(Erasure.id)).all()) == 1


def test_bad_requests_are_refused_in_chinese(settings: Settings, sources: Sources) -> None:
    nothing = erase(settings, "--yes")
    assert nothing.returncode == 1
    assert "请用 --phone 或 --customer 指定客户" in nothing.stderr
    bad_phone = erase(settings, "--phone", "12345", "--yes")
    assert bad_phone.returncode == 1
    assert "电话号码格式不正确" in bad_phone.stderr
    bad_customer = erase(settings, "--customer", "crm:1", "--yes")
    assert bad_customer.returncode == 1
    assert "wechat 或 primary" in bad_customer.stderr
