"""``infotrack archive``: old rows move into a checked file and out of the live table, the
chain still links across the two, and nothing is deleted when any step fails.

Every command runs through the real CLI against real SQLite files and MariaDB.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from infotrack.audit.chain import TIME_COLUMNS, canonical_time
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.kit.clock import local_now
from infotrack.models import AccessLogEntry
from infotrack.models.audit import TrailArchive
from infotrack.models.informationtra import informationtra
from infotrack.tracking.recorder import RecordDraft, Recorder
from tests.audit.conftest import OPERATOR, audit_key, crm_row, draft, execute
from tests.audit.test_grants import configured_urls, run_as_root
from tests.conftest import MySQLDatabases, add_user, make_settings, run_cli

WANG = replace(OPERATOR, operator_id="account:9", name="王芳", department="销售二部")


class Writer:
    """One writer appending batch after batch to its own chain (as a server process does)."""

    def __init__(self, sources: Sources, settings: Settings) -> None:
        self.recorder = Recorder(sources.wechat, settings.zone, audit_key(settings))

    def append(self, drafts: list[RecordDraft]) -> list[int]:
        results = self.recorder.append_many(drafts)
        assert all(not isinstance(r, Exception) for r in results), results
        return [r.id for r in results]  # type: ignore[union-attr]


def days_ago(settings: Settings, days: int, minute: int = 0) -> datetime:
    """Noon local time ``days`` ago (plus some minutes)."""
    noon = local_now(settings.zone).replace(hour=12, minute=0, second=0)
    return noon - timedelta(days=days) + timedelta(minutes=minute)


def day(settings: Settings, days: int) -> str:
    """The local date ``days`` ago, as --before takes it."""
    return (local_now(settings.zone).date() - timedelta(days=days)).isoformat()


def crm_row_at(sources: Sources, when: datetime, user_id: str = "u-crm", name: str = "赵磊") -> int:
    """A CRM row (no chain) of a given time."""
    stamp = when.strftime("%Y-%m-%d %H:%M:%S")
    return crm_row(
        sources,
        user_id,
        tradepartment="销售一部",
        trauserName=name,
        operationTime=stamp,
        created_at=stamp,
    )


def live_rows(sources: Sources) -> dict[int, dict[str, Any]]:
    """Every live row, as an archive writes it down (times to the second)."""
    with sources.wechat.connect() as conn:
        rows = conn.execute(select(informationtra).order_by(informationtra.c.id)).all()
    return {
        row.id: {
            name: canonical_time(value) if name in TIME_COLUMNS else value
            for name, value in row._mapping.items()
        }
        for row in rows
    }


def archive_members(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    """The manifest, the rows and the erasure entries of an archive file."""
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        rows = [json.loads(line) for line in zf.read("rows.jsonl").splitlines()]
        erasures = [json.loads(line) for line in zf.read("erasures.jsonl").splitlines()]
    return manifest, rows, erasures


def ledger(sources: Sources) -> list[Any]:
    with sources.wechat.connect() as conn:
        return list(conn.execute(select(TrailArchive).order_by(TrailArchive.id)).all())


def leftovers(directory: Path) -> list[str]:
    """Partial archive files left behind (there must be none)."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".partial"))


class Trail:
    """A trail with old and recent rows on several chains, and the CRM's own rows.

    - chain A: 4 rows 2000 days ago, 3 rows 1500 days ago, then 2 recent rows;
    - chain B: 3 rows 2000 days ago (all archivable);
    - chain C: 2 recent rows only;
    - chain D: old, old, *recent*, old — only the first two may go (chains stay contiguous);
    - CRM rows: 2000 and 1500 days ago, and a recent one.
    """

    def __init__(self, sources: Sources, settings: Settings) -> None:
        a = Writer(sources, settings)
        self.a_oldest = a.append(
            [draft(f"a{i}", when=days_ago(settings, 2000, i), text=f"查看 {i}") for i in range(4)]
        )
        self.b = Writer(sources, settings).append(
            [draft(f"b{i}", when=days_ago(settings, 2000, 10 + i), operator=WANG) for i in range(3)]
        )
        self.crm_oldest = crm_row_at(sources, days_ago(settings, 2000, 30))
        self.a_old = a.append(
            [
                draft(f"a{i}", when=days_ago(settings, 1500, i), event_type="edit", text="修改")
                for i in range(4, 7)
            ]
        )
        self.crm_old = crm_row_at(sources, days_ago(settings, 1500, 30), "u-crm2", "孙丽")
        d = Writer(sources, settings)
        self.d = d.append([draft("d0", when=days_ago(settings, 1999)), draft("d1")])
        self.d += d.append([draft("d2", when=days_ago(settings, 1998))])
        # d1 above is recent (no ``when``): only d0 may be archived, and d2 stays with it.
        self.a_recent = a.append([draft("a7"), draft("a8")])
        self.c = Writer(sources, settings).append([draft("c0"), draft("c1")])
        self.crm_recent = crm_row_at(sources, local_now(settings.zone))

    @property
    def before_1800(self) -> list[int]:
        """Rows an archive --before (1800 days ago) takes."""
        return sorted([*self.a_oldest, *self.b, self.crm_oldest, self.d[0]])

    @property
    def before_1200(self) -> list[int]:
        """Rows an archive --before (1200 days ago) takes on top of :attr:`before_1800`."""
        return sorted([*self.a_old, self.crm_old])


@pytest.fixture
def trail(sources: Sources, settings: Settings) -> Trail:
    return Trail(sources, settings)


def archive(
    settings: Settings, out: Path, before: str, *extra: str, env: dict[str, str] | None = None
) -> Any:
    return run_cli(
        settings, "archive", "--before", before, "--out", str(out), *extra, extra_env=env
    )


def test_round_trip_keeps_every_row_and_the_chain(
    settings: Settings, sources: Sources, trail: Trail, tmp_path: Path
) -> None:
    before_rows = live_rows(sources)
    out = tmp_path / "trail-1.zip"
    result = archive(settings, out, day(settings, 1800), "--by", "审计员刘")
    assert result.returncode == 0, result.stderr
    assert f"已归档 {len(trail.before_1800)} 行" in result.stdout

    manifest, rows, erasures = archive_members(out)
    # Every archived row, every column, exactly as it stood in the live table.
    assert [r["id"] for r in rows] == trail.before_1800
    assert rows == [before_rows[i] for i in trail.before_1800]
    assert erasures == []
    assert manifest["row_count"] == len(trail.before_1800)
    assert (manifest["min_id"], manifest["max_id"]) == (trail.before_1800[0], trail.before_1800[-1])
    assert manifest["unchained_rows"] == 1
    assert manifest["format"] == "infotrack-archive/1"
    assert manifest["operator"].startswith("审计员刘")

    # The live table keeps exactly the rest.
    live = live_rows(sources)
    assert sorted(live) == sorted(set(before_rows) - set(trail.before_1800))
    # Chain A continues in the live table right after what the archive holds.
    chain_a = str(before_rows[trail.a_oldest[0]]["chain_id"])
    first_seq, first_prev, last_seq, last_hash = manifest["chains"][chain_a]
    assert (first_seq, last_seq) == (1, 4)
    next_row = live[trail.a_old[0]]
    assert next_row["chain_seq"] == last_seq + 1
    assert next_row["chain_prev"] == last_hash
    # Chain D: only its first row went; the old row after the recent one stayed.
    chain_d = str(before_rows[trail.d[0]]["chain_id"])
    assert manifest["chains"][chain_d][2] == 1
    assert trail.d[2] in live

    # The ledger holds it, the file checks, the live trail still verifies as a whole.
    (entry,) = ledger(sources)
    assert entry.row_count == len(trail.before_1800)
    assert json.loads(entry.manifest) == manifest
    assert entry.file_name == str(out)
    checked = run_cli(settings, "archive", "verify", str(out))
    assert checked.returncode == 0, checked.stdout
    assert "通过" in checked.stdout
    verified = run_cli(settings, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # The act is in the access log, without personal data.
    with sources.wechat.connect() as conn:
        acts = conn.execute(select(AccessLogEntry).where(AccessLogEntry.action == "archive")).all()
    (act,) = acts
    details = json.loads(act.filters)
    assert details["row_count"] == len(trail.before_1800)
    assert details["file"] == str(out)
    assert act.operator_name == "审计员刘"
    assert set(details) == {"file", "before", "row_count", "min_id", "max_id"}
    # …and the chain heads left the database in an anchor of its own.
    anchors = [json.loads(line) for line in settings.anchor_file.read_text().splitlines()]
    assert [a["reason"] for a in anchors] == ["archive"]
    assert leftovers(tmp_path) == []


def test_a_second_archive_continues_the_first(
    settings: Settings, sources: Sources, trail: Trail, tmp_path: Path
) -> None:
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    assert archive(settings, first, day(settings, 1800)).returncode == 0
    result = archive(settings, second, day(settings, 1200))
    assert result.returncode == 0, result.stderr
    m1, _, _ = archive_members(first)
    m2, rows2, _ = archive_members(second)
    assert [r["id"] for r in rows2] == trail.before_1200
    chain_a = str(rows2[0]["chain_id"])
    assert m2["chains"][chain_a][:2] == [m1["chains"][chain_a][2] + 1, m1["chains"][chain_a][3]]
    assert m2["chains"][chain_a][2] == 7
    assert len(ledger(sources)) == 2
    for path in (first, second):
        assert run_cli(settings, "archive", "verify", str(path)).returncode == 0
    verified = run_cli(settings, "verify")
    assert verified.returncode == 0, verified.stdout
    # Nothing older is left: the same cut-off again archives nothing and writes no file.
    again = archive(settings, tmp_path / "3.zip", day(settings, 1200))
    assert again.returncode == 0, again.stderr
    assert "没有" in again.stdout
    assert not (tmp_path / "3.zip").exists()


def _rewrite(path: Path, change: Any) -> None:
    """Edit rows.jsonl inside the archive and write the zip again (as a forger would)."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    rows = [json.loads(line) for line in members["rows.jsonl"].splitlines()]
    change(rows)
    members["rows.jsonl"] = b"".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for r in rows
    )
    path.unlink()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_an_archive_edited_inside_fails_verify_naming_the_row(
    settings: Settings, sources: Sources, trail: Trail, tmp_path: Path
) -> None:
    out = tmp_path / "trail.zip"
    assert archive(settings, out, day(settings, 1800)).returncode == 0
    victim = trail.a_oldest[2]

    def change(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["id"] == victim:
                row["trauserName"] = "李四"

    _rewrite(out, change)
    result = run_cli(settings, "archive", "verify", str(out), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert not report["ok"]
    assert victim in [p["rowId"] for p in report["problems"]]
    assert any("SHA-256" in p["detail"] for p in report["problems"])
    # Only the edited row is named (its neighbours still link to its stored hash).
    assert {p["rowId"] for p in report["problems"]} == {None, victim}
    plain = run_cli(settings, "archive", "verify", str(out))
    assert plain.returncode == 1
    assert "未通过" in plain.stdout
    assert str(victim) in plain.stdout
    # show still reads it, but says it cannot be trusted.
    shown = run_cli(settings, "archive", "show", str(out))
    assert shown.returncode == 1
    assert "被改动" in shown.stderr


def test_a_forged_manifest_fails_verify(
    settings: Settings, sources: Sources, trail: Trail, tmp_path: Path
) -> None:
    out = tmp_path / "trail.zip"
    assert archive(settings, out, day(settings, 1800)).returncode == 0
    with zipfile.ZipFile(out) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["row_count"] -= 1
    members["manifest.json"] = json.dumps(manifest).encode()
    out.unlink()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    result = run_cli(settings, "archive", "verify", str(out))
    assert result.returncode == 1
    assert "MAC 不符" in result.stdout
    assert "行数与清单不符" in result.stdout


@pytest.mark.parametrize("tampering", ["update", "delete"])
def test_tampered_rows_in_the_range_are_refused_and_nothing_is_deleted(
    settings: Settings, sources: Sources, trail: Trail, tmp_path: Path, tampering: str
) -> None:
    victim = trail.a_oldest[1]
    if tampering == "update":
        execute(
            sources, "UPDATE informationtra SET operationEvent = '伪造' WHERE id = :i", i=victim
        )
        named = victim
    else:
        execute(sources, "DELETE FROM informationtra WHERE id = :i", i=victim)
        named = trail.a_oldest[2]  # the row after the hole
    before_rows = live_rows(sources)
    out = tmp_path / "trail.zip"
    result = archive(settings, out, day(settings, 1800))
    assert result.returncode == 1
    assert "未通过校验" in result.stderr
    assert str(named) in result.stderr
    assert live_rows(sources) == before_rows
    assert not out.exists()
    assert leftovers(tmp_path) == []
    assert ledger(sources) == []


def test_an_existing_or_unwritable_destination_leaves_every_row(
    settings: Settings, sources: Sources, trail: Trail, tmp_path: Path
) -> None:
    before_rows = live_rows(sources)
    existing = tmp_path / "exists.zip"
    existing.write_bytes(b"keep me")
    result = archive(settings, existing, day(settings, 1800))
    assert result.returncode == 1
    assert "已存在" in result.stderr
    assert existing.read_bytes() == b"keep me"

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where a directory should be")
    result = archive(settings, blocker / "trail.zip", day(settings, 1800))
    assert result.returncode == 1
    assert "无法在" in result.stderr
    result = archive(settings, tmp_path / "missing" / "trail.zip", day(settings, 1800))
    assert result.returncode == 1

    assert live_rows(sources) == before_rows
    assert ledger(sources) == []
    assert leftovers(tmp_path) == []


def test_a_failing_database_step_deletes_nothing_and_removes_the_file(
    settings: Settings, sources: Sources, trail: Trail, tmp_path: Path
) -> None:
    if sources.wechat.dialect.name == "sqlite":
        execute(
            sources,
            "CREATE TRIGGER keep_trail BEFORE DELETE ON informationtra "
            "BEGIN SELECT RAISE(ABORT, 'the trail is append-only'); END",
        )
    else:
        execute(
            sources,
            "CREATE TRIGGER keep_trail BEFORE DELETE ON informationtra FOR EACH ROW "
            "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'the trail is append-only'",
        )
    before_rows = live_rows(sources)
    out = tmp_path / "trail.zip"
    result = archive(settings, out, day(settings, 1800))
    assert result.returncode == 1
    assert "数据库拒绝了归档" in result.stderr
    assert "append-only" in result.stderr
    assert live_rows(sources) == before_rows
    assert ledger(sources) == []  # the ledger entry went with the rolled-back transaction
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_retention_is_enforced(
    settings: Settings, sources: Sources, trail: Trail, tmp_path: Path
) -> None:
    out = tmp_path / "trail.zip"
    short = run_cli(
        settings,
        "archive",
        "--due",
        "--out",
        str(out),
        extra_env={"INFOTRACK_RETENTION_DAYS": "90"},
    )
    assert short.returncode != 0
    assert "INFOTRACK_RETENTION_DAYS=90 低于 180 天" in short.stderr
    assert "网络安全法" in short.stderr
    assert "Traceback" not in short.stderr

    # Default retention (3 years): a date 1000 days ago is too recent; the latest allowed is named.
    latest = (local_now(settings.zone).date() - timedelta(days=3 * 365)).isoformat()
    too_recent = archive(settings, out, day(settings, 1000))
    assert too_recent.returncode == 1
    assert latest in too_recent.stderr
    assert not out.exists()

    # --due with a 1600-day retention period takes exactly the rows older than 1600 days.
    due = run_cli(
        settings,
        "archive",
        "--due",
        "--out",
        str(out),
        extra_env={"INFOTRACK_RETENTION_DAYS": "1600"},
    )
    assert due.returncode == 0, due.stderr
    manifest, rows, _ = archive_members(out)
    assert [r["id"] for r in rows] == trail.before_1800
    assert manifest["before"] == f"{day(settings, 1600)} 00:00:00"


def test_show_reads_rows_back_with_filters(
    settings: Settings, sources: Sources, trail: Trail, tmp_path: Path
) -> None:
    out = tmp_path / "trail.zip"
    assert archive(settings, out, day(settings, 1200)).returncode == 0
    archived = sorted(trail.before_1800 + trail.before_1200)

    def show(*args: str) -> list[dict[str, Any]]:
        result = run_cli(settings, "archive", "show", str(out), "--json", "--limit", "1000", *args)
        assert result.returncode == 0, result.stderr
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return rows

    assert [r["id"] for r in show()] == archived
    assert [r["id"] for r in show("--operator", "王芳")] == trail.b
    assert [r["id"] for r in show("--user-id", "u-crm2")] == [trail.crm_old]
    # --to with a date includes that whole day; --from is inclusive.
    assert [r["id"] for r in show("--to", day(settings, 1999))] == sorted(
        [*trail.a_oldest, *trail.b, trail.crm_oldest, trail.d[0]]
    )
    assert [r["id"] for r in show("--from", day(settings, 1500))] == trail.before_1200
    assert len(show("--limit", "2")) == 2

    table = run_cli(settings, "archive", "show", str(out), "--operator", "孙丽")
    assert table.returncode == 0, table.stderr
    assert "孙丽" in table.stdout
    assert "共 1 条符合条件" in table.stdout


def test_erased_rows_carry_their_ledger_entries(
    settings: Settings, sources: Sources, tmp_path: Path
) -> None:
    add_user(sources, "u-erase", "13800138000", "陈先生")
    writer = Writer(sources, settings)
    ids = writer.append(
        [
            draft("u-erase", when=days_ago(settings, 2000), text="查看客户 13800138000 详情"),
            draft("u-other", when=days_ago(settings, 2000, 1), text="查看客户 13900139000 详情"),
        ]
    )
    writer.append([draft("u-erase", text="致电 13800138000")])
    erased = run_cli(settings, "erase", "--phone", "13800138000", "--yes", "--reason", "客户申请")
    assert erased.returncode == 0, erased.stdout + erased.stderr

    out = tmp_path / "trail.zip"
    result = archive(settings, out, day(settings, 1800))
    assert result.returncode == 0, result.stderr
    manifest, rows, erasures = archive_members(out)
    assert [r["id"] for r in rows] == ids
    assert manifest["erased_rows"] == 1
    assert "13800138000" not in json.dumps(rows, ensure_ascii=False)
    kinds = sorted(e["document"]["kind"] for e in erasures)
    assert kinds == ["erased_row", "erasure"]
    assert {e["document"].get("row_id") for e in erasures} == {None, ids[0]}
    checked = run_cli(settings, "archive", "verify", str(out))
    assert checked.returncode == 0, checked.stdout
    assert "已删除个人信息 1 行" in checked.stdout

    # Without its ledger entries the erased row no longer checks: they are what vouch for it.
    with zipfile.ZipFile(out) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members["erasures.jsonl"] = b""
    out.unlink()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    broken = run_cli(settings, "archive", "verify", str(out), "--json")
    assert broken.returncode == 1
    assert ids[0] in [p["rowId"] for p in json.loads(broken.stdout)["problems"]]
    verified = run_cli(settings, "verify")
    assert verified.returncode == 0, verified.stdout


def test_the_cut_off_is_exclusive_to_the_second(
    settings: Settings, sources: Sources, tmp_path: Path
) -> None:
    midnight = datetime.combine(
        local_now(settings.zone).date() - timedelta(days=2000), datetime.min.time()
    )
    second_before = midnight - timedelta(seconds=1)
    chained = Writer(sources, settings).append(
        [draft("e0", when=second_before), draft("e1", when=midnight)]
    )
    crm_before, crm_at = crm_row_at(sources, second_before), crm_row_at(sources, midnight)
    out = tmp_path / "trail.zip"
    result = archive(settings, out, midnight.date().isoformat())
    assert result.returncode == 0, result.stderr
    _, rows, _ = archive_members(out)
    assert [r["id"] for r in rows] == sorted([chained[0], crm_before])
    assert set(live_rows(sources)) == {chained[1], crm_at}


def test_show_masks_phone_numbers_unless_asked(
    settings: Settings, sources: Sources, tmp_path: Path
) -> None:
    Writer(sources, settings).append(
        [draft("u9", when=days_ago(settings, 2000), text="致电客户 13800138000")]
    )
    out = tmp_path / "trail.zip"
    assert archive(settings, out, day(settings, 1800)).returncode == 0
    masked = run_cli(settings, "archive", "show", str(out), "--json")
    assert masked.returncode == 0, masked.stderr
    assert json.loads(masked.stdout)[0]["operationEvent"] == "致电客户 138****8000"
    full = run_cli(settings, "archive", "show", str(out), "--json", "--unmasked")
    assert json.loads(full.stdout)[0]["operationEvent"] == "致电客户 13800138000"
    # Both reads are in the access log, the second saying it was unmasked.
    with sources.wechat.connect() as conn:
        reads = conn.execute(
            select(AccessLogEntry.filters).where(AccessLogEntry.action == "archive_show")
        ).all()
    assert [json.loads(r.filters)["unmasked"] for r in reads] == [False, True]


@pytest.mark.mysql
def test_on_mariadb_only_the_migration_account_can_archive(
    mysql_server: str, tmp_path: Path
) -> None:
    """With the accounts ``infotrack grants`` prints: as the application account the database
    refuses the archive's last step and nothing is deleted; as the migration account it runs,
    while the access log and the anchor are written by the application account."""
    dbs = MySQLDatabases(mysql_server, [])
    tag = uuid.uuid4().hex[:8]
    app_user, migration_user = f"it_app_{tag}", f"it_mig_{tag}"
    try:
        root = make_settings({"wechat": dbs.create("w"), "primary": dbs.create("p")}, tmp_path)
        assert run_cli(root, "init").returncode == 0
        printed = run_cli(
            root, "grants", "--app-user", app_user, "--migration-user", migration_user
        )
        assert printed.returncode == 0, printed.stderr
        run_as_root(mysql_server, printed.stdout)
        urls = configured_urls(printed.stdout)
        app_urls = {
            "wechat": urls["INFOTRACK_WECHAT_DB_URL"],
            "primary": urls["INFOTRACK_PRIMARY_DB_URL"],
        }
        sources = Sources.from_settings(root)
        try:
            trail = Trail(sources, root)
            before_rows = live_rows(sources)
            out = tmp_path / "trail.zip"

            # No migration URL: the archive runs as the application account.
            as_app = make_settings(app_urls, tmp_path)
            refused = archive(as_app, out, day(root, 1800))
            assert refused.returncode == 1
            assert "数据库拒绝了归档" in refused.stderr
            assert live_rows(sources) == before_rows
            assert ledger(sources) == []
            assert not out.exists()
            assert leftovers(tmp_path) == []

            migration = {"INFOTRACK_WECHAT_ADMIN_DB_URL": urls["INFOTRACK_WECHAT_ADMIN_DB_URL"]}
            done = archive(as_app, out, day(root, 1800), env=migration)
            assert done.returncode == 0, done.stderr
            assert sorted(set(before_rows) - set(live_rows(sources))) == trail.before_1800
            assert "警告" not in done.stderr  # access log and anchor written as the app account
            with sources.wechat.connect() as conn:
                acts = conn.execute(
                    select(AccessLogEntry.id).where(AccessLogEntry.action == "archive")
                ).all()
            assert len(acts) == 1
            verified = run_cli(as_app, "verify")
            assert verified.returncode == 0, verified.stdout
        finally:
            sources.dispose()
    finally:
        engine = create_engine(mysql_server)
        with engine.begin() as conn:
            for user in (app_user, migration_user):
                conn.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))
        engine.dispose()
        dbs.drop_all()
