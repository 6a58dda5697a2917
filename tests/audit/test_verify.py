"""``infotrack verify`` and ``/audit/verify``: tampering done directly in the database is named.

Each test writes a real chained trail through the recorder, then acts as someone with database
access (plain SQL), and checks that the verifier names exactly what was done, by row id.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from infotrack.audit import verify as verify_module
from infotrack.audit.chain import CHAIN_COLUMNS, AuditKey, ChainHead, seal
from infotrack.audit.verify import VerifyRange, VerifyReport, verify_trail
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.models.informationtra import informationtra
from tests.audit.conftest import append_chained, crm_row, draft, execute
from tests.conftest import bearer, create_account, make_settings, run_cli


def verify(settings: Settings, sources: Sources, **kwargs: Any) -> VerifyReport:
    return verify_trail(settings, sources.wechat, **kwargs)


def kinds(report: VerifyReport) -> Counter[str]:
    return Counter(report.counts)


def found(report: VerifyReport, kind: str) -> list[int | None]:
    return sorted(p.row_id or 0 for p in report.problems if p.kind == kind)


def trail(sources: Sources, settings: Settings, batches: int = 3, size: int = 4) -> list[int]:
    """A few batches from one writer, and one batch from a second writer (a second chain)."""
    ids: list[int] = []
    for b in range(batches):
        ids += append_chained(
            sources, settings, [draft(f"u{b}-{i}", text=f"查看客户详情 {i}") for i in range(size)]
        )
    return ids


def row(sources: Sources, row_id: int) -> dict[str, Any]:
    with sources.wechat.connect() as conn:
        found_row = conn.execute(select(informationtra).where(informationtra.c.id == row_id)).one()
    return dict(found_row._mapping)


def test_an_untouched_trail_passes_and_crm_rows_are_listed_apart(
    settings: Settings, sources: Sources
) -> None:
    ids = trail(sources, settings)
    crm = crm_row(sources)
    report = verify(settings, sources)
    assert report.ok, report.problems
    assert report.checked_rows == len(ids) + 1
    assert report.chained_rows == len(ids)
    assert report.chains == 3  # one per append_chained call
    assert report.unchained_rows == 1
    assert report.unchained_ids == [crm]


def test_an_updated_field_is_named_as_altered(settings: Settings, sources: Sources) -> None:
    ids = trail(sources, settings)
    execute(sources, "UPDATE informationtra SET trauserName = '李四' WHERE id = :id", id=ids[5])
    execute(
        sources,
        "UPDATE informationtra SET operationEvent = '修改客户信息' WHERE id = :id",
        id=ids[9],
    )
    report = verify(settings, sources)
    assert kinds(report) == {"altered": 2}
    assert found(report, "altered") == [ids[5], ids[9]]


def test_a_changed_time_is_altered_but_fractions_of_a_second_are_not_stored(
    settings: Settings, sources: Sources
) -> None:
    ids = trail(sources, settings, batches=1)
    execute(
        sources,
        "UPDATE informationtra SET operationTime = :t WHERE id = :id",
        t="2020-01-01 00:00:00",
        id=ids[1],
    )
    report = verify(settings, sources)
    assert found(report, "altered") == [ids[1]]


def test_a_deleted_row_is_named_with_its_position_and_neighbours_still_check(
    settings: Settings, sources: Sources
) -> None:
    ids = trail(sources, settings, batches=1, size=6)
    execute(sources, "DELETE FROM informationtra WHERE id = :id", id=ids[2])
    execute(sources, "UPDATE informationtra SET userId = 'x' WHERE id = :id", id=ids[3])
    report = verify(settings, sources)
    assert kinds(report) == {"deleted": 1, "altered": 1}
    (deleted,) = [p for p in report.problems if p.kind == "deleted"]
    assert deleted.seq == 3
    assert deleted.row_id == ids[3]
    assert str(ids[1]) in deleted.detail  # "after row …"
    assert found(report, "altered") == [ids[3]]  # the row after the hole is still checked


def test_deleting_a_chain_s_first_rows_is_caught(settings: Settings, sources: Sources) -> None:
    ids = trail(sources, settings, batches=1, size=4)
    execute(sources, "DELETE FROM informationtra WHERE id IN (:a, :b)", a=ids[0], b=ids[1])
    report = verify(settings, sources)
    assert kinds(report) == {"deleted": 1}
    assert report.problems[0].seq == 1
    assert "链的开头" in report.problems[0].detail


def test_forged_rows_are_named_as_inserted(settings: Settings, sources: Sources) -> None:
    ids = trail(sources, settings, batches=1)
    crm = crm_row(sources)  # the CRM's own: not tampering
    # Written to look like ours, but nobody chained it.
    ours = crm_row(sources, "u-forged", event_type="view_detail", request_id="req-forged")
    # A copy of a real row, moved to a chain nobody registered.
    copy = row(sources, ids[0])
    copy.pop("id")
    copy.update(chain_id=999, request_id="copied", userId="u-copied")
    with sources.wechat.begin() as conn:
        conn.execute(informationtra.insert().values(**copy))
        forged_chain = int(conn.execute(text("SELECT MAX(id) FROM informationtra")).scalar_one())
    report = verify(settings, sources)
    assert report.unchained_ids == [crm]
    assert found(report, "inserted") == sorted([ours, forged_chain, forged_chain])
    assert set(report.counts) == {"inserted"}


def test_a_copied_row_on_a_held_position_is_inserted(settings: Settings, sources: Sources) -> None:
    ids = trail(sources, settings, batches=1)
    # Someone with enough rights drops the unique index first, then inserts a copy.
    execute(sources, "DROP INDEX uq_informationtra_chain" + _on_table(sources))
    copy = row(sources, ids[1])
    copy.pop("id")
    copy.update(request_id="copy-of-1", userId="u-injected")
    with sources.wechat.begin() as conn:
        conn.execute(informationtra.insert().values(**copy))
        copied = int(conn.execute(text("SELECT MAX(id) FROM informationtra")).scalar_one())
    report = verify(settings, sources)
    assert set(report.counts) == {"inserted"}
    assert copied in found(report, "inserted")
    assert ids[1] not in found(report, "inserted")


def test_without_external_writers_every_unchained_row_is_inserted(
    settings: Settings, sources: Sources
) -> None:
    trail(sources, settings, batches=1)
    crm = crm_row(sources)
    strict = settings.model_copy(update={"audit_external_writers": False})
    report = verify(strict, sources)
    assert found(report, "inserted") == [crm]


def test_a_chain_rewritten_without_the_key_fails_every_row(
    settings: Settings, sources: Sources
) -> None:
    ids = trail(sources, settings, batches=1, size=5)
    _reseal(sources, AuditKey(b"a guess at the key, not the key itself!"), ids, "篡改后的文字")
    report = verify(settings, sources)
    assert set(report.counts) <= {"altered", "rewritten"}
    assert set(found(report, "altered")) == set(ids)


def test_a_chain_rewritten_with_the_key_is_caught_by_the_anchor(
    settings: Settings, sources: Sources
) -> None:
    from infotrack.audit.anchors import create_anchor

    key = AuditKey(settings.resolved_audit_key())
    ids = trail(sources, settings, batches=1, size=5)
    create_anchor(sources.wechat, settings, key, reason="on_demand", operator="test")
    assert verify(settings, sources).ok
    # With the key (a stolen copy), every hash is recomputed: each row checks out on its own.
    _reseal(sources, key, ids, "篡改后的文字")
    report = verify(settings, sources)
    assert set(report.counts) == {"rewritten"}
    assert found(report, "rewritten") == [ids[-1]]  # the anchored head


def test_deleting_rows_after_the_last_anchor_position_is_caught(
    settings: Settings, sources: Sources
) -> None:
    from infotrack.audit.anchors import create_anchor

    key = AuditKey(settings.resolved_audit_key())
    ids = trail(sources, settings, batches=1, size=5)
    create_anchor(sources.wechat, settings, key, reason="on_demand", operator="test")
    execute(sources, "DELETE FROM informationtra WHERE id >= :id", id=ids[3])
    report = verify(settings, sources)
    assert kinds(report) == {"deleted": 1}
    assert report.problems[0].seq == 4
    assert "末尾" in report.problems[0].detail


def test_a_time_range_checks_only_its_rows(settings: Settings, sources: Sources) -> None:
    from datetime import datetime

    early = append_chained(
        sources, settings, [draft(f"e{i}", when=datetime(2026, 1, 5, 9, i)) for i in range(4)]
    )
    late = append_chained(
        sources, settings, [draft(f"l{i}", when=datetime(2026, 3, 5, 9, i)) for i in range(4)]
    )
    execute(sources, "UPDATE informationtra SET userId = 'x' WHERE id = :id", id=early[1])
    march = VerifyRange(datetime(2026, 3, 1), datetime(2026, 4, 1))
    assert verify(settings, sources, scope=march).ok
    assert verify(settings, sources, scope=march).checked_rows == len(late)
    assert found(verify(settings, sources), "altered") == [early[1]]


def test_parallel_slices_find_what_one_process_finds(
    settings: Settings, sources: Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = trail(sources, settings, batches=4, size=10)
    crm_row(sources)
    execute(sources, "DELETE FROM informationtra WHERE id = :id", id=ids[12])
    execute(sources, "UPDATE informationtra SET trarole = '经理' WHERE id = :id", id=ids[25])
    monkeypatch.setattr(verify_module, "PARALLEL_FROM_ROWS", 1)
    one = verify(settings, sources, workers=1)
    two = verify(settings, sources, workers=2)
    assert one.data() == two.data()
    assert kinds(two) == {"deleted": 1, "altered": 1}


def test_cli_exits_1_and_names_the_rows(settings: Settings, sources: Sources) -> None:
    ids = trail(sources, settings, batches=1)
    ok = run_cli(settings, "verify")
    assert ok.returncode == 0, ok.stderr
    assert "通过" in ok.stdout
    execute(sources, "UPDATE informationtra SET trauserName = '李四' WHERE id = :id", id=ids[2])
    bad = run_cli(settings, "verify", "--json")
    assert bad.returncode == 1
    data = json.loads(bad.stdout)
    assert data["ok"] is False
    assert [p["rowId"] for p in data["problems"]] == [ids[2]]
    assert data["problems"][0]["kind"] == "altered"
    text_run = run_cli(settings, "verify")
    assert text_run.returncode == 1
    assert "被改动" in text_run.stdout
    assert str(ids[2]) in text_run.stdout


def test_cli_refuses_a_bad_range(settings: Settings, sources: Sources) -> None:
    result = run_cli(settings, "verify", "--from", "yesterday")
    assert result.returncode == 1
    assert "from 不是合法的 ISO 8601 时间" in result.stderr


def test_api_is_for_auditors_and_logs_the_check(
    settings: Settings, sources: Sources, client: TestClient
) -> None:
    ids = trail(sources, settings, batches=1)
    for username, role in (("audit", "审计"), ("admin", "管理员"), ("sales", "业务员")):
        create_account(sources, settings, username, role=role)
    for username, code in (("admin", "separation_of_duties"), ("sales", "audit_forbidden")):
        refused = client.get(
            "/api/information-tracking/audit/verify", headers=bearer(client, username)
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == code
    auditor = bearer(client, "audit")
    passed = client.get("/api/information-tracking/audit/verify", headers=auditor)
    assert passed.status_code == 200
    assert passed.json()["data"]["ok"] is True
    execute(sources, "DELETE FROM informationtra WHERE id = :id", id=ids[1])
    failed = client.get("/api/information-tracking/audit/verify", headers=auditor).json()["data"]
    assert failed["ok"] is False
    assert failed["problemCounts"] == {"deleted": 1}
    bad = client.get("/api/information-tracking/audit/verify?from=x", headers=auditor)
    assert bad.status_code == 400
    assert bad.json()["success"] is False
    with sources.wechat.connect() as conn:
        logged = conn.execute(
            text("SELECT COUNT(*) FROM infotrack_access_log WHERE action = 'audit_verify'")
        ).scalar_one()
    assert logged == 2


def test_verify_needs_the_key_it_was_written_with(
    tmp_path: Any, settings: Settings, sources: Sources
) -> None:
    trail(sources, settings, batches=1)
    other = make_settings(
        {"wechat": settings.wechat_db_url, "primary": settings.primary_db_url},
        settings.data_dir,
        audit_key="another-key-entirely-0123456789-abcdefghijklmn",
    )
    report = verify(other, sources)
    assert set(report.counts) == {"unknown_key"}


def _on_table(sources: Sources) -> str:
    return " ON informationtra" if sources.wechat.dialect.name != "sqlite" else ""


def _reseal(sources: Sources, key: AuditKey, ids: list[int], new_text: str) -> None:
    """Change every row's text and recompute the chain, as an attacker holding ``key`` would."""
    rows = [row(sources, i) for i in ids]
    chain_id = rows[0]["chain_id"]
    for r in rows:
        r["operationEvent"] = new_text
    seal(key, ChainHead(chain_id, 0, key.genesis(chain_id)), rows)
    with sources.wechat.begin() as conn:
        for r in rows:
            conn.execute(
                informationtra.update()
                .where(informationtra.c.id == r["id"])
                # MySQL would stamp updated_at (ON UPDATE CURRENT_TIMESTAMP): keep it as it was.
                .values(
                    operationEvent=new_text,
                    updated_at=r["updated_at"],
                    **{c: r[c] for c in CHAIN_COLUMNS},
                )
            )


def test_an_erasure_keeps_the_trail_verifiable_and_erased_rows_stay_guarded(
    settings: Settings, sources: Sources
) -> None:
    from infotrack.audit.anchors import create_anchor

    ids = append_chained(
        sources,
        settings,
        [
            draft("u1", text="查看客户详情 13800138000"),
            draft("u2", text="查看客户详情"),
            draft(
                "u1",
                event_type="edit",
                text="修改客户信息",
                changes=[{"field": "电话", "old": "138-0013-8000", "new": "13900139000"}],
            ),
        ],
    )
    create_anchor(
        sources.wechat,
        settings,
        AuditKey(settings.resolved_audit_key()),
        reason="on_demand",
        operator="test",
    )
    erased = run_cli(settings, "erase", "--phone", "+86 138 0013 8000", "--yes")
    assert erased.returncode == 0, erased.stderr
    report = verify(settings, sources)
    assert report.ok, report.problems
    assert report.erased_rows == 2
    with sources.wechat.connect() as conn:
        texts = conn.execute(text("SELECT operationEvent, changes FROM informationtra")).all()
    assert "13800138000" not in json.dumps([list(t) for t in texts]).replace("-", "")
    # An erased row is still guarded: its text may not change again behind the ledger's back.
    execute(sources, "UPDATE informationtra SET operationEvent = '随便' WHERE id = :id", id=ids[0])
    assert found(verify(settings, sources), "altered") == [ids[0]]
