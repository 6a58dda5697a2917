"""Anchors: chain heads checkpointed to an append-only file and a webhook, read back and checked.

Rows are appended through the real recorder; anchors are made by the real code, written to a
real file, posted to a real local HTTP receiver, and the CLI runs as a subprocess.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from infotrack.alerts.channels import verify_webhook_signature
from infotrack.audit import anchors as anchors_module
from infotrack.audit.anchor_scheduler import PeriodicAnchorer
from infotrack.audit.anchors import (
    AnchorResult,
    anchor_count,
    chain_heads,
    create_anchor,
    read_anchor_file,
)
from infotrack.audit.chain import AuditKey
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.kit.clock import ManualClock
from infotrack.models import AccessLogEntry, AuditAnchor
from infotrack.models.informationtra import informationtra
from infotrack.tracking.recorder import Recorder
from tests.alerts.receiver import Receiver
from tests.audit.conftest import append_chained, audit_key, crm_row, draft, execute
from tests.conftest import make_settings, run_cli, run_server

WEBHOOK_SECRET = "anchor-webhook-secret-0123456789"


def anchor(
    sources: Sources, settings: Settings, reason: str = "on_demand", **kwargs: Any
) -> AnchorResult:
    return create_anchor(
        sources.wechat, settings, audit_key(settings), reason=reason, operator="测试", **kwargs
    )


def lines(settings: Settings) -> list[dict[str, Any]]:
    """The anchor file, one document per line."""
    raw = settings.anchor_file.read_bytes().splitlines()
    return [json.loads(line) for line in raw]


def head_of(sources: Sources, row_id: int) -> list[Any]:
    """``[chain_id, seq, hash, row_id]`` of a row, read straight from the table."""
    t = informationtra.c
    with sources.wechat.connect() as conn:
        row = conn.execute(
            select(t.chain_id, t.chain_seq, t.chain_hash, t.id).where(t.id == row_id)
        ).one()
    return [int(row[0]), int(row[1]), str(row[2]), int(row[3])]


def writer(sources: Sources, settings: Settings) -> Recorder:
    """One writer: every call of :func:`append` moves the same chain."""
    return Recorder(sources.wechat, settings.zone, audit_key(settings))


def append(recorder: Recorder, count: int, prefix: str = "u") -> list[int]:
    results = recorder.append_many([draft(f"{prefix}{i}") for i in range(count)])
    ids = []
    for result in results:
        assert not isinstance(result, Exception), result
        ids.append(result.id)
    return ids


def mac_holds(key: AuditKey, document: dict[str, Any]) -> bool:
    body = {k: v for k, v in document.items() if k != "mac"}
    return key.check_mac(body, document["mac"])


# --- what an anchor holds --------------------------------------------------------------------


def test_an_anchor_line_holds_every_chain_head_with_a_valid_mac(
    settings: Settings, sources: Sources
) -> None:
    first = append_chained(sources, settings, [draft(f"a{i}") for i in range(4)])
    second = append_chained(sources, settings, [draft(f"b{i}") for i in range(2)])
    crm_row(sources, "crm")
    result = anchor(sources, settings)
    assert result.ok
    assert result.anchor_ids == [1]
    assert result.heads == 2
    assert result.file_lines == 1
    (document,) = lines(settings)
    key = audit_key(settings)
    assert document["v"] == 1
    assert document["id"] == 1
    assert document["prev"] is None
    assert document["reason"] == "on_demand"
    assert document["operator"] == "测试"
    assert document["key_id"] == key.key_id
    assert len(document["at"]) == 19  # YYYY-MM-DD HH:MM:SS, local time
    assert document["heads"] == [head_of(sources, first[-1]), head_of(sources, second[-1])]
    assert document["heads"][0][1] == 4
    assert document["heads"][1][1] == 2
    assert mac_holds(key, document)
    with sources.wechat.connect() as conn:
        stored = conn.execute(
            select(AuditAnchor.mac, AuditAnchor.heads, AuditAnchor.prev_mac)
        ).one()
        heads = chain_heads(conn)
    assert stored.mac == document["mac"]
    assert json.loads(stored.heads) == document["heads"]
    assert stored.prev_mac is None
    assert heads == {h[0]: (h[1], h[2], h[3]) for h in document["heads"]}  # the CRM row: none


def test_a_second_anchor_lists_only_the_chains_that_moved_and_links_by_prev(
    settings: Settings, sources: Sources
) -> None:
    moving, idle = writer(sources, settings), writer(sources, settings)
    append(moving, 3, "m")
    idle_ids = append(idle, 2, "i")
    first = anchor(sources, settings)
    moved = append(moving, 2, "n")
    fresh = append_chained(sources, settings, [draft("f0")])
    second = anchor(sources, settings)
    assert second.anchor_ids == [2]
    assert second.heads == 2
    one, two = lines(settings)
    assert two["prev"] == one["mac"]
    assert two["heads"] == [head_of(sources, moved[-1]), head_of(sources, fresh[-1])]
    assert first.heads == 2
    assert two["heads"][0][1] == 5
    read = read_anchor_file(settings.anchor_file, audit_key(settings))
    assert read.problems == []
    assert read.anchors == 2
    assert {c: (h.seq, h.row_id, h.anchor_id) for c, h in read.heads.items()} == {
        head_of(sources, moved[-1])[0]: (5, moved[-1], 2),
        head_of(sources, idle_ids[-1])[0]: (2, idle_ids[-1], 1),  # from the first anchor
        head_of(sources, fresh[-1])[0]: (1, fresh[-1], 2),
    }


def test_periodic_anchors_skip_when_nothing_moved_but_on_demand_proves_it(
    settings: Settings, sources: Sources
) -> None:
    assert anchor(sources, settings, "periodic").anchor_ids == []  # an empty trail
    append_chained(sources, settings, [draft("a")])
    assert anchor(sources, settings, "periodic").anchor_ids == [1]
    quiet = anchor(sources, settings, "periodic")
    assert quiet.anchor_ids == []
    assert quiet.file_lines == 0
    assert quiet.ok
    assert len(lines(settings)) == 1
    proof = anchor(sources, settings)
    assert proof.anchor_ids == [2]
    assert proof.heads == 0
    assert lines(settings)[1]["heads"] == []
    assert lines(settings)[1]["reason"] == "on_demand"


def test_many_moved_chains_are_split_over_linked_anchors(
    settings: Settings, sources: Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anchors_module, "MAX_HEADS_PER_ANCHOR", 2)
    for c in range(5):
        append_chained(sources, settings, [draft(f"c{c}")])
    result = anchor(sources, settings)
    assert result.anchor_ids == [1, 2, 3]
    assert result.heads == 5
    read = read_anchor_file(settings.anchor_file, audit_key(settings))
    assert read.problems == []
    assert len(read.heads) == 5


# --- heads that went wrong are reported, never anchored -----------------------------------------


def test_a_chain_rewritten_under_its_anchor_is_not_anchored_again(
    settings: Settings, sources: Sources
) -> None:
    recorder = writer(sources, settings)
    ids = append(recorder, 3)
    anchor(sources, settings)
    execute(
        sources, "UPDATE informationtra SET chain_hash = :h WHERE id = :id", h="f" * 64, id=ids[-1]
    )
    append(recorder, 2, "later")
    result = anchor(sources, settings)
    chain_id = head_of(sources, ids[0])[0]
    assert result.heads == 0
    assert len(result.problems) == 1
    assert f"链 {chain_id}" in result.problems[0]
    assert "序号 3" in result.problems[0]
    # The file still vouches for the head before the rewrite.
    read = read_anchor_file(settings.anchor_file, audit_key(settings))
    assert read.heads[chain_id].seq == 3
    assert read.heads[chain_id].row_id == ids[-1]


def test_a_chain_cut_short_is_reported_and_keeps_its_anchored_head(
    settings: Settings, sources: Sources
) -> None:
    ids = append_chained(sources, settings, [draft(f"a{i}") for i in range(4)])
    anchor(sources, settings)
    execute(sources, "DELETE FROM informationtra WHERE id >= :id", id=ids[2])
    result = anchor(sources, settings)
    assert result.heads == 0
    assert "只到序号 2" in result.problems[0]
    read = read_anchor_file(settings.anchor_file, audit_key(settings))
    assert read.heads[head_of(sources, ids[0])[0]].seq == 4


# --- reading the file back ---------------------------------------------------------------------


def three_anchors(sources: Sources, settings: Settings) -> list[bytes]:
    recorder = writer(sources, settings)
    for round_ in range(3):
        append(recorder, 2, f"r{round_}-")
        anchor(sources, settings)
    return settings.anchor_file.read_bytes().splitlines(keepends=True)


def test_an_edited_line_is_named_by_its_mac(settings: Settings, sources: Sources) -> None:
    raw = three_anchors(sources, settings)
    document = json.loads(raw[1])
    document["heads"][0][1] = 99  # claim the chain went further
    raw[1] = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    settings.anchor_file.write_bytes(b"".join(raw))
    read = read_anchor_file(settings.anchor_file, audit_key(settings))
    assert read.anchors == 3
    assert len(read.problems) == 1
    assert read.problems[0].startswith("第 2 行")
    assert "MAC" in read.problems[0]
    (head,) = read.heads.values()
    assert head.seq == 6
    assert head.anchor_id == 3


def test_a_deleted_middle_line_is_named_by_the_broken_prev_link(
    settings: Settings, sources: Sources
) -> None:
    raw = three_anchors(sources, settings)
    settings.anchor_file.write_bytes(raw[0] + raw[2])
    read = read_anchor_file(settings.anchor_file, audit_key(settings))
    assert read.anchors == 2
    assert len(read.problems) == 1
    assert read.problems[0].startswith("第 2 行")
    assert "prev" in read.problems[0]
    assert "第 1 行" in read.problems[0]


def test_a_deleted_first_line_garbage_and_a_foreign_key_are_named(
    settings: Settings, sources: Sources
) -> None:
    raw = three_anchors(sources, settings)
    foreign = json.loads(raw[2])
    foreign["key_id"] = "0123456789abcdef"
    settings.anchor_file.write_bytes(
        raw[1] + b'{"v":1,"id":\n' + (json.dumps(foreign).encode() + b"\n")
    )
    read = read_anchor_file(settings.anchor_file, audit_key(settings))
    assert read.anchors == 3
    assert [p[:5] for p in read.problems] == ["第 1 行", "第 2 行", "第 3 行"]
    assert "第一条" in read.problems[0]
    assert "无法解析" in read.problems[1]
    assert "另一个审计密钥" in read.problems[2]
    assert {h.anchor_id for h in read.heads.values()} == {2}


def test_a_missing_file_is_a_problem_only_when_anchors_exist(
    settings: Settings, sources: Sources
) -> None:
    key = audit_key(settings)
    with sources.wechat.connect() as conn:
        empty = read_anchor_file(settings.anchor_file, key, conn=conn)
    assert empty.heads == {}
    assert empty.anchors == 0
    assert empty.problems == []
    three_anchors(sources, settings)
    settings.anchor_file.unlink()
    assert read_anchor_file(settings.anchor_file, key).problems == []  # no database to ask
    with sources.wechat.connect() as conn:
        assert anchor_count(conn) == 3
        missing = read_anchor_file(settings.anchor_file, key, conn=conn)
    assert missing.heads == {}
    assert len(missing.problems) == 1
    assert "不存在" in missing.problems[0]
    assert "3 个锚点" in missing.problems[0]
    # The next anchor, even a periodic one with nothing to add, writes the file again in full.
    assert anchor(sources, settings, "periodic").file_lines == 3
    with sources.wechat.connect() as conn:
        again = read_anchor_file(settings.anchor_file, key, conn=conn)
    assert again.problems == []
    assert again.anchors == 3


def test_lines_removed_from_the_end_show_against_the_table(
    settings: Settings, sources: Sources
) -> None:
    raw = three_anchors(sources, settings)
    settings.anchor_file.write_bytes(raw[0] + raw[1])
    with sources.wechat.connect() as conn:
        read = read_anchor_file(settings.anchor_file, audit_key(settings), conn=conn)
    assert len(read.problems) == 1
    assert "止于锚点 #2" in read.problems[0]


# --- failures outside the database, made good later ------------------------------------------


def test_a_failed_file_write_is_reported_and_made_good_by_the_next_anchor(
    db_urls: dict[str, str], tmp_path: Path, sources: Sources
) -> None:
    blocker = tmp_path / "witness"
    blocker.write_text("a file where the directory should be", encoding="utf-8")
    settings = make_settings(db_urls, tmp_path, audit_anchor_file=blocker / "anchors.jsonl")
    append_chained(sources, settings, [draft("a")])
    failed = anchor(sources, settings)
    assert failed.anchor_ids == [1]
    assert not failed.ok
    assert failed.file_error == "路径中有一段不是目录"
    message = failed.failure()
    assert message is not None
    assert "锚点 #1 已存入数据库" in message
    assert str(blocker) in message
    blocker.unlink()  # the operator fixes the path
    append_chained(sources, settings, [draft("b")])
    fixed = anchor(sources, settings, "periodic")
    assert fixed.ok
    assert fixed.anchor_ids == [2]
    assert fixed.file_lines == 2
    assert [d["id"] for d in lines(settings)] == [1, 2]
    with sources.wechat.connect() as conn:
        read = read_anchor_file(settings.anchor_file, audit_key(settings), conn=conn)
    assert read.problems == []
    assert len(read.heads) == 2


def test_a_line_cut_short_is_left_alone_and_the_next_starts_on_a_new_line(
    settings: Settings, sources: Sources
) -> None:
    append_chained(sources, settings, [draft("a")])
    anchor(sources, settings)
    with settings.anchor_file.open("ab") as handle:
        handle.write(b'{"v":1,"id":2,"at":"2026-')  # a write cut short by a full disk
    append_chained(sources, settings, [draft("b")])
    assert anchor(sources, settings).file_lines == 1
    read = read_anchor_file(settings.anchor_file, audit_key(settings))
    assert read.anchors == 3
    assert len(read.heads) == 2
    assert len(read.problems) == 1
    assert read.problems[0].startswith("第 2 行")


def test_a_table_behind_the_file_is_refused_rather_than_forked(
    settings: Settings, sources: Sources
) -> None:
    three_anchors(sources, settings)
    # Someone with database access removes the newest anchor (or restores an old backup).
    execute(sources, "DELETE FROM infotrack_audit_anchors WHERE id = 3")
    result = anchor(sources, settings)
    assert result.anchor_ids == [3]
    assert result.file_error is not None
    assert "文件已写到锚点 #3" in result.file_error
    assert len(lines(settings)) == 3  # the file keeps what it witnessed


# --- the webhook ---------------------------------------------------------------------------


def test_the_webhook_receives_each_anchor_signed_as_the_file_line(
    db_urls: dict[str, str], tmp_path: Path, sources: Sources
) -> None:
    with Receiver() as receiver:
        settings = make_settings(
            db_urls,
            tmp_path,
            audit_anchor_webhook_url=receiver.url("/anchors"),
            audit_anchor_webhook_secret=WEBHOOK_SECRET,
        )
        append_chained(sources, settings, [draft("a"), draft("b")])
        result = anchor(sources, settings)
        assert result.ok
        assert result.webhook
        assert result.webhook_sent == 1
        (request,) = receiver.wait_for(1)
    assert request.path == "/anchors"
    assert request.method == "POST"
    assert request.body + b"\n" == settings.anchor_file.read_bytes()
    timestamp, signature = (
        request.header("X-InfoTrack-Timestamp"),
        request.header("X-InfoTrack-Signature"),
    )
    assert timestamp is not None
    assert signature is not None
    assert signature.startswith("sha256=")
    assert verify_webhook_signature(
        WEBHOOK_SECRET, timestamp, request.body, signature, now=time.time()
    )
    assert not verify_webhook_signature(
        "another-secret-0123456789", timestamp, request.body, signature, now=time.time()
    )
    assert request.header("X-InfoTrack-Delivery") == "1"
    assert request.header("X-InfoTrack-Event") == "anchor"
    assert mac_holds(audit_key(settings), request.json())


def test_a_failed_delivery_is_posted_again_by_the_next_anchor(
    db_urls: dict[str, str], tmp_path: Path, sources: Sources
) -> None:
    with Receiver() as receiver:
        settings = make_settings(
            db_urls, tmp_path, audit_anchor_webhook_url=receiver.url("/anchors")
        )
        append_chained(sources, settings, [draft("a")])
        receiver.fail_next(1, status=503)
        failed = anchor(sources, settings)
        assert not failed.ok
        assert failed.file_error is None
        assert failed.webhook_error == "锚点 #1:HTTP 503"
        assert "未能送达 webhook" in (failed.failure() or "")
        again = anchor(sources, settings)
        assert again.ok
        assert again.webhook_sent == 2
        requests = receiver.wait_for(3)
    assert [r.header("X-InfoTrack-Delivery") for r in requests] == ["1", "1", "2"]
    assert requests[2].json()["prev"] == requests[1].json()["mac"]
    assert requests[1].header("X-InfoTrack-Signature") is None  # no secret: unsigned


# --- concurrency -----------------------------------------------------------------------------


def test_anchoring_from_several_threads_at_once_keeps_one_linked_sequence(
    settings: Settings, sources: Sources
) -> None:
    append_chained(sources, settings, [draft("a")])
    made: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(4):
                made.extend(anchor(sources, settings).anchor_ids)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(made) == list(range(1, 17))
    assert [d["id"] for d in lines(settings)] == list(range(1, 17))
    with sources.wechat.connect() as conn:
        read = read_anchor_file(settings.anchor_file, audit_key(settings), conn=conn)
    assert read.problems == []
    assert read.anchors == 16


# --- periodic anchors ----------------------------------------------------------------------


def test_the_periodic_anchorer_anchors_when_rows_moved_and_only_then(
    settings: Settings, sources: Sources
) -> None:
    clock = ManualClock(time.time())
    key = audit_key(settings)
    anchorer = PeriodicAnchorer(settings, sources.wechat, key, clock=clock)
    other = PeriodicAnchorer(settings, sources.wechat, key, clock=clock)
    recorder = writer(sources, settings)
    ids = append(recorder, 2)
    first = anchorer.tick()
    assert first is not None
    assert first.anchor_ids == [1]
    assert first.ok
    assert other.tick() is None  # the lease keeps one process anchoring
    assert anchorer.tick() is None  # not due yet
    clock.advance(settings.audit_anchor_interval)
    quiet = anchorer.tick()
    assert quiet is not None
    assert quiet.anchor_ids == []
    assert len(lines(settings)) == 1
    more = append(recorder, 3, "more")
    clock.advance(settings.audit_anchor_interval)
    moved = anchorer.tick()
    assert moved is not None
    assert moved.anchor_ids == [2]
    assert lines(settings)[1]["heads"] == [head_of(sources, more[-1])]
    assert lines(settings)[1]["reason"] == "periodic"
    assert lines(settings)[1]["operator"].startswith("infotrack serve@")
    assert lines(settings)[0]["heads"] == [head_of(sources, ids[-1])]
    assert other.tick() is None
    anchorer.stop()
    anchorer.run_forever()  # returns at once when stopped, giving the lease back
    clock.advance(1)
    taken = other.tick()
    assert taken is not None
    assert taken.anchor_ids == []


def test_serve_anchors_periodically_when_enabled(settings: Settings, sources: Sources) -> None:
    append_chained(sources, settings, [draft("a"), draft("b")])
    env = {"INFOTRACK_AUDIT_ANCHORS_IN_PROCESS": "true", "INFOTRACK_AUDIT_ANCHOR_INTERVAL": "1"}
    with run_server(settings, workers=1, extra_env=env):
        deadline = time.monotonic() + 20
        while not settings.anchor_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    (document,) = lines(settings)
    assert document["reason"] == "periodic"
    assert len(document["heads"]) == 1
    assert document["heads"][0][1] == 2


# --- the CLI -------------------------------------------------------------------------------


def test_the_cli_anchors_prints_what_it_did_and_logs_the_act(
    settings: Settings, sources: Sources
) -> None:
    append_chained(sources, settings, [draft("a"), draft("b")])
    done = run_cli(settings, "anchor", "--by", "王审计")
    assert done.returncode == 0, done.stderr
    assert "锚点 #1" in done.stdout
    assert "1 个链头" in done.stdout
    assert str(settings.anchor_file) in done.stdout.replace("\n", "")
    assert "webhook:未配置" in done.stdout
    (document,) = lines(settings)
    assert document["operator"].startswith("cli:")
    assert document["operator"].endswith("(王审计)")
    with sources.wechat.connect() as conn:
        (act,) = conn.execute(
            select(
                AccessLogEntry.operator_name,
                AccessLogEntry.role,
                AccessLogEntry.row_count,
                AccessLogEntry.filters,
            ).where(AccessLogEntry.action == "anchor")
        ).all()
    assert act.operator_name == "王审计"
    assert act.role == "CLI"
    assert act.row_count == 1
    details = json.loads(act.filters)
    assert details["anchorIds"] == [1]
    assert details["fileWritten"] is True
    assert details["webhook"] == "off"


def test_the_cli_fails_clearly_when_the_anchor_file_cannot_be_written(
    settings: Settings, sources: Sources
) -> None:
    blocker = settings.data_dir / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    target = blocker / "anchors.jsonl"
    append_chained(sources, settings, [draft("a")])
    done = run_cli(settings, "anchor", extra_env={"INFOTRACK_AUDIT_ANCHOR_FILE": str(target)})
    assert done.returncode == 1
    stderr = done.stderr.replace("\n", "")
    assert "错误" in stderr
    assert "未能写入锚点文件" in stderr
    assert str(target) in stderr
    assert "锚点 #1 已存入数据库" in stderr
    with sources.wechat.connect() as conn:
        details = json.loads(
            conn.execute(
                select(AccessLogEntry.filters).where(AccessLogEntry.action == "anchor")
            ).scalar_one()
        )
        assert conn.execute(text("SELECT COUNT(*) FROM infotrack_audit_anchors")).scalar() == 1
    assert details["fileWritten"] is False
