"""Trail check benchmark: how long ``infotrack verify`` takes over a large chained trail.

    .venv/bin/python benchmarks/verify.py [--rows 10000000] [--backend sqlite|mysql] [--repeat 3]

A trail of ``--rows`` chained rows is written first, as eight writers would have written it
(batches of 500 rows from each chain in turn, like eight server processes), with one row in a
thousand written by the CRM itself (unchained); then the whole trail is verified ``--repeat``
times with the default parallelism (one process per core). Figures: medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from infotrack.audit.chain import CHAIN_COLUMNS, AuditKey, ChainHead, seal
from infotrack.audit.verify import verify_trail
from infotrack.audit.writer_chain import WriterChain
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.maintenance.schema import initialise
from infotrack.maintenance.sqlite_bulk import load_rows

WRITERS = 8
BATCH = 500
COLUMNS = (
    "tracompany",
    "tradepartment",
    "traorganization",
    "trarole",
    "trauserName",
    "traassistant",
    "userId",
    "operationEvent",
    "operationTime",
    "created_at",
    "updated_at",
    "event_type",
    "customer_source",
    "side",
    "operator_id",
    "request_id",
    "client_addr",
    "changes",
)
KEY = "bench-audit-key-0123456789-abcdefghijklmnopqrstuvwxyz"


BENCH_DATABASES = ("infotrack_bench_verify_w", "infotrack_bench_verify_p")


def drop_databases(mysql_url: str) -> None:
    """Remove the benchmark's MariaDB databases (gigabytes at ten million rows)."""
    engine = create_engine(mysql_url)
    with engine.begin() as conn:
        for name in BENCH_DATABASES:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    engine.dispose()


def make_settings(workdir: Path, backend: str, mysql_url: str) -> Settings:
    if backend == "sqlite":
        urls = {k: f"sqlite:///{workdir / f'{k}.db'}" for k in ("wechat", "primary")}
    else:
        drop_databases(mysql_url)  # a run that was cut off leaves them behind
        engine = create_engine(mysql_url)
        with engine.begin() as conn:
            for name in BENCH_DATABASES:
                conn.execute(
                    text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                )
        engine.dispose()
        urls = {
            "wechat": f"{mysql_url}/infotrack_bench_verify_w",
            "primary": f"{mysql_url}/infotrack_bench_verify_p",
        }
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        wechat_db_url=urls["wechat"],
        primary_db_url=urls["primary"],
        data_dir=workdir,
        secret_key="bench-secret-key-0123456789-abcdefghijkl",
        audit_key=KEY,
        alerts_in_process=False,
    )


def register(engine: Engine, settings: Settings) -> list[ChainHead]:
    """The eight writers' chains, registered before the load's transaction begins."""
    heads: list[ChainHead] = []
    for _ in range(WRITERS):
        chain = WriterChain(AuditKey(settings.resolved_audit_key()), settings.zone, "bench")
        with engine.connect() as conn:
            chain.register(conn)
        assert chain.head is not None
        heads.append(chain.head)
    return heads


def rows(key: AuditKey, heads: list[ChainHead], count: int) -> Iterator[tuple[Any, ...]]:
    """``count`` rows in insertion order: eight chains taking turns, a few CRM rows between."""
    start = datetime(2026, 1, 1, 8, 0)
    step = timedelta(days=300) / max(count, 1)
    for n in range(count):
        at = (start + step * n).strftime("%Y-%m-%d %H:%M:%S")
        writer = (n // BATCH) % WRITERS
        row: dict[str, Any] = {
            "tracompany": "华东贸易有限公司",
            "tradepartment": f"销售{n % 7}部",
            "traorganization": "华东大区",
            "trarole": "业务员",
            "trauserName": f"员工{n % 300}",
            "traassistant": None,
            "userId": f"wx_{n % 50_000}",
            "operationEvent": "查看客户详情",
            "operationTime": at,
            "created_at": at,
            "updated_at": at,
            "event_type": "view_detail",
            "customer_source": "wechat",
            "side": "supply",
            "operator_id": f"account:{n % 300}",
            "request_id": f"bench-{n}",
            "client_addr": "10.0.0.8",
            "changes": None,
        }
        if n % 1000 == 999:  # the CRM's own row: no chain, none of our columns
            for name in ("event_type", "customer_source", "side", "operator_id", "request_id"):
                row[name] = None
            yield (*(row[c] for c in COLUMNS), None, None, None, None)
            continue
        heads[writer] = seal(key, heads[writer], [row])
        yield (*(row[c] for c in COLUMNS), *(row[c] for c in CHAIN_COLUMNS))


def load(engine: Engine, settings: Settings, count: int) -> float:
    started = time.perf_counter()
    key = AuditKey(settings.resolved_audit_key())
    generated = rows(key, register(engine, settings), count)
    names = (*COLUMNS, *CHAIN_COLUMNS)
    if engine.dialect.name == "sqlite":
        load_rows(engine, names, generated, count)
    else:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            columns = ", ".join(f"`{c}`" for c in names)
            sql = (
                f"INSERT INTO informationtra ({columns}) VALUES ({', '.join(['%s'] * len(names))})"
            )
            chunk: list[tuple[Any, ...]] = []
            for values in generated:
                chunk.append(values)
                if len(chunk) == 5000:
                    cursor.executemany(sql, chunk)
                    raw.commit()
                    chunk = []
            if chunk:
                cursor.executemany(sql, chunk)
                raw.commit()
        finally:
            raw.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), args.backend, args.mysql_url)
        sources = Sources.from_settings(settings)
        initialise(sources, settings)
        loaded = load(sources.wechat, settings, args.rows)
        print(f"loaded {args.rows} rows in {loaded:.1f} s", flush=True)
        runs = []
        try:
            for _ in range(args.repeat):
                started = time.perf_counter()
                report = verify_trail(settings, sources.wechat, workers=args.workers)
                runs.append(time.perf_counter() - started)
                assert report.ok, report.counts
                assert report.checked_rows == args.rows
                print(f"verify: {runs[-1]:.1f} s ({report.chained_rows} chained)", flush=True)
        finally:
            sources.dispose()
            if args.backend == "mysql":
                drop_databases(args.mysql_url)
    summary = {
        "backend": args.backend,
        "rows": args.rows,
        "workers": args.workers,
        "seconds_median": statistics.median(runs),
        "rows_per_s_median": args.rows / statistics.median(runs),
        "runs": runs,
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"verify-{args.backend}-{int(time.time())}.json").write_text(
        json.dumps(summary, indent=2)
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
