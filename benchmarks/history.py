"""Read-side benchmark: history pages and statistics over a large ``informationtra``.

For one backend the script

1. creates fresh databases (the same ones as ``ingest.py``), runs ``infotrack init``, seeds
   customers, and appends ``--rows`` records (default 1 000 000) through
   ``Recorder.append_bulk``: 200 operators in 10 departments of 2 companies, event types in a
   realistic mix, ``operationTime`` spread over the last ``--days`` days in working hours;
   ``--reuse`` keeps databases that already hold that many rows;
2. reads through the real HTTP app (in-process ``TestClient``, lifespan included) as a
   系统管理员 (scope: all), a 经理 (own department) and a 业务员 (own records);
3. times each case ``--repeat`` times after a warm-up and reports p50 and p95 in ms.

Targets (issue "History, statistics, and who may read what"): history page 1 p95 < 30 ms;
stats by day over 30 days, by operator, by eventType < 500 ms.

    .venv/bin/python benchmarks/history.py --backend sqlite --rows 1000000
    .venv/bin/python benchmarks/history.py --backend mysql --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from infotrack.audit.chain import AuditKey
from infotrack.auth.service import AccountFields, add_account  # noqa: E402
from infotrack.config import Settings  # noqa: E402
from infotrack.db import Sources, session_scope  # noqa: E402
from infotrack.kit.clock import local_now  # noqa: E402
from infotrack.maintenance.schema import initialise  # noqa: E402
from infotrack.tracking.recorder import Operator, RecordDraft, Recorder  # noqa: E402
from ingest import RESULTS_DIR, Backend, seed_customers  # noqa: E402

MYSQL_DATABASES = ("infotrack_history_w", "infotrack_history_p")
CUSTOMERS = 20_000
COMPANIES = ("华东贸易有限公司", "华南实业有限公司")
DEPARTMENTS = 5  # per company
OPERATORS = 200
PASSWORD = "bench-pass-123"
EVENTS = (
    ("view_detail", "查看客户详情", 55),
    ("follow_up", "更新客户跟进", 20),
    ("edit", "修改客户信息", 15),
    ("call", "拨打客户电话", 7),
    ("other", "发送报价单", 3),
)


def operators() -> list[Operator]:
    """200 operators over 2 companies × 5 departments (ids as accounts would have them)."""
    result = []
    for i in range(OPERATORS):
        company = COMPANIES[i % 2]
        department = f"销售{(i // 2) % DEPARTMENTS + 1}部"
        result.append(
            Operator(
                f"bench:{i}", company, department, "华东大区", "业务员", f"业务员{i:03d}", None
            )
        )
    return result


def generate(sources: Sources, settings: Settings, rows: int, days: int) -> float:
    """Append ``rows`` back-dated records; returns rows/s."""
    rng = random.Random(42)
    ops = operators()
    weights = [w for _, _, w in EVENTS]
    recorder = Recorder(sources.wechat, settings.zone, AuditKey(settings.resolved_audit_key()))
    now = local_now(settings.zone)
    # A trail is appended as things happen: ids follow time, as in production.
    times = sorted(
        min(
            now,
            (now - timedelta(days=rng.random() * days)).replace(
                hour=rng.randrange(8, 20), microsecond=0
            ),
        )
        for _ in range(rows)
    )
    started = time.perf_counter()
    chunk: list[RecordDraft] = []
    for n, when in enumerate(times):
        op = ops[rng.randrange(OPERATORS)]
        code, label, _ = rng.choices(EVENTS, weights)[0]
        customer = rng.randrange(CUSTOMERS)
        wechat = rng.random() < 0.75
        chunk.append(
            RecordDraft(
                operator=op,
                customer_id=f"wx{customer:07d}" if wechat else str(customer + 1),
                customer_source="wechat" if wechat else "primary",
                event_type=code,
                operation_event=label,
                side="supply",
                request_id=f"bench-{n}",
                occurred_at=when,
            )
        )
        if len(chunk) == 10_000:
            recorder.append_bulk(chunk)
            chunk = []
    recorder.append_bulk(chunk)
    return rows / (time.perf_counter() - started)


def add_readers(sources: Sources, settings: Settings) -> None:
    """A 系统管理员, a 经理 of 销售1部 and a 业务员 (operator 0's name) in company 0."""
    readers = (
        ("root", "系统管理员", "销售1部", "管理员甲"),
        ("manager", "经理", "销售1部", "经理乙"),
        ("sales", "业务员", "销售1部", "业务员000"),
    )
    with session_scope(sources.wechat) as session:
        for username, role, department, name in readers:
            fields = AccountFields(COMPANIES[0], department, "华东大区", role, name, None, "supply")
            add_account(session, username, PASSWORD, fields, settings.zone)


def timed(
    client: Any, path: str, params: dict[str, str], headers: dict[str, str], repeat: int
) -> dict[str, float]:
    """p50/p95 in ms of ``repeat`` GETs after two warm-ups."""
    for _ in range(2):
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, params=params, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    samples.sort()
    return {
        "p50": round(statistics.median(samples), 1),
        "p95": round(samples[max(0, int(len(samples) * 0.95) - 1)], 1),
    }


def mysql_backend(server_url: str, *, fresh: bool) -> Backend:
    """Databases of its own (``infotrack_history_w/p``), so it can run beside ingest.py."""
    server = make_url(server_url).set(database=None)
    if fresh:
        engine = create_engine(server, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in MYSQL_DATABASES:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
                conn.execute(
                    text(
                        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    )
                )
        engine.dispose()
    wechat, primary = (
        server.set(database=name).render_as_string(hide_password=False) for name in MYSQL_DATABASES
    )
    return Backend("mysql", wechat, primary)


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose and fill the databases (shared with ``exports.py``)."""
    parser.add_argument("--backend", choices=("sqlite", "mysql"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365, help="spread records over this many days")
    parser.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306")
    parser.add_argument(
        "--dir", type=Path, default=None, help="SQLite directory (kept for --reuse)"
    )
    parser.add_argument("--reuse", action="store_true", help="keep databases that have the rows")


def prepare(args: argparse.Namespace) -> tuple[Settings, float | None]:
    """Databases holding ``args.rows`` records and the readers; their settings and the
    generation rate (``None`` when reused)."""
    if args.backend == "mysql":
        backend = mysql_backend(args.mysql_url, fresh=not args.reuse)
    else:
        directory = args.dir or Path(tempfile.mkdtemp(prefix="infotrack-history-"))
        directory.mkdir(parents=True, exist_ok=True)
        if not args.reuse:
            for f in directory.glob("*.db*"):
                f.unlink()
        backend = Backend.sqlite(directory)
    settings = Settings(
        _env_file=None,
        wechat_db_url=backend.wechat_url,
        primary_db_url=backend.primary_url,
        secret_key="bench-secret-key-0123456789-abcdefghijkl",
        data_dir=Path(tempfile.mkdtemp()),
        log_requests=False,
        log_level="WARNING",
    )
    sources = Sources.from_settings(settings)
    initialise(sources, settings)
    with sources.wechat.connect() as conn:
        existing = int(conn.execute(text("SELECT COUNT(*) FROM informationtra")).scalar_one())
    generated = None
    if existing < args.rows:
        seed_customers(backend, CUSTOMERS)
        add_readers(sources, settings)
        generated = generate(sources, settings, args.rows, args.days)
        print(f"generated {args.rows} rows at {generated:,.0f} rows/s")
        analyze = "ANALYZE TABLE informationtra" if args.backend == "mysql" else "ANALYZE"
        with sources.wechat.begin() as conn:
            conn.execute(text(analyze))
    sources.dispose()
    return settings, generated


def main() -> None:
    """Run the read-side benchmark."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_database_arguments(parser)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from infotrack.app import create_app

    settings, generated = prepare(args)

    results: dict[str, dict[str, float]] = {}
    with TestClient(create_app(settings)) as client:
        tokens = {}
        for user in ("root", "manager", "sales"):
            login = client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
            tokens[user] = {"Authorization": f"Bearer {login.json()['token']}"}
        client.cookies.clear()
        today = local_now(settings.zone).date()
        month = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
        cases: list[tuple[str, str, str, dict[str, str]]] = [
            ("history unfiltered (系统管理员)", "root", "/api/information-tracking/records", {}),
            (
                "history one operator",
                "root",
                "/api/information-tracking/records",
                {"operator": "业务员007"},
            ),
            (
                "history one department",
                "root",
                "/api/information-tracking/records",
                {"department": "销售3部"},
            ),
            (
                "history one customer (phone)",
                "root",
                "/api/information-tracking/records",
                {"phoneNumber": "13900000123"},
            ),
            (
                "history page 1 as 经理 (department scope)",
                "manager",
                "/api/information-tracking/records",
                {},
            ),
            (
                "history page 1 as 业务员 (own scope)",
                "sales",
                "/api/information-tracking/records",
                {},
            ),
            (
                "stats by day, 30 days",
                "root",
                "/api/information-tracking/stats",
                {"groupBy": "day", **month},
            ),
            (
                "stats by operator, 30 days",
                "root",
                "/api/information-tracking/stats",
                {"groupBy": "operator", **month},
            ),
            (
                "stats by eventType, 30 days",
                "root",
                "/api/information-tracking/stats",
                {"groupBy": "eventType", **month},
            ),
            (
                "stats by day as 经理",
                "manager",
                "/api/information-tracking/stats",
                {"groupBy": "day", **month},
            ),
        ]
        for label, user, path, params in cases:
            results[label] = timed(client, path, params, tokens[user], args.repeat)
            print(
                f"| {args.backend} | {label} | {results[label]['p50']} | {results[label]['p95']} |"
            )

    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS_DIR / f"history-{args.backend}-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "backend": args.backend,
                "rows": args.rows,
                "days": args.days,
                "generated_rows_per_s": generated,
                "results": results,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
