"""Alert worker benchmark: evaluation throughput and commit-to-webhook latency.

    .venv/bin/python benchmarks/alerts.py [--rows 500000] [--operators 2000] [--backend …]

Throughput: a trail of ``--rows`` rows (view/edit/follow-up from ``--operators`` operators over
one working day, now and then a bulk viewer who fires the bulk-view and many-customers rules) is
written first; then one worker, holding the lease, reads and evaluates all of it with the default
rules (the same ``step()`` the running worker repeats, alerts and checkpoint stored as in
production). Events/s = rows / elapsed.

Latency: the worker runs as in production (``run_forever`` on a thread, the default poll
interval of 1 s), with one rule that fires on every view and a webhook to a local HTTP server;
each sample commits one row and waits for its webhook. Figures are medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

from infotrack.alerts.worker import AlertWorker
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.kit.clock import Clock, ManualClock
from infotrack.maintenance.schema import initialise
from infotrack.models.informationtra import informationtra

TYPES = ["view_detail"] * 6 + ["edit"] * 2 + ["follow_up"] * 2


def make_settings(workdir: Path, backend: str, mysql_url: str, **extra: Any) -> Settings:
    """Fresh databases of the chosen kind."""
    if backend == "sqlite":
        urls = {k: f"sqlite:///{workdir / f'{k}.db'}" for k in ("wechat", "primary")}
    else:
        engine = create_engine(mysql_url)
        with engine.begin() as conn:
            for name in ("infotrack_bench_alerts_w", "infotrack_bench_alerts_p"):
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
                conn.execute(
                    text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                )
        engine.dispose()
        urls = {
            "wechat": f"{mysql_url}/infotrack_bench_alerts_w",
            "primary": f"{mysql_url}/infotrack_bench_alerts_p",
        }
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        wechat_db_url=urls["wechat"],
        primary_db_url=urls["primary"],
        data_dir=workdir,
        secret_key="bench-secret-key-0123456789-abcdefghijkl",
        alerts_in_process=False,
        **extra,
    )


BULK_RUN = 600  # consecutive rows one bulk viewer takes (about 2 minutes of a 200k-row day)
BULK_EVERY = 30  # one run in this many is a bulk viewer's
BULK_VIEWERS = 5


def trail(rows: int, operators: int, day: datetime) -> list[dict[str, Any]]:
    """A working day of rows in time order; now and then a bulk viewer takes over for a run.

    The bulk viewers make the default bulk-view and many-customers rules fire, so storing
    alerts and their outbox rows is part of what is measured.
    """
    rng = random.Random(7)
    step = timedelta(hours=10) / rows
    out = []
    for i in range(rows):
        run = i // BULK_RUN
        bulk = run % BULK_EVERY == 0
        op = operators + run // BULK_EVERY % BULK_VIEWERS if bulk else rng.randrange(operators)
        at = day + step * i
        out.append(
            {
                "tracompany": "华东贸易有限公司",
                "tradepartment": f"销售{op % 20}部",
                "trarole": "业务员",
                "trauserName": f"员工{op}",
                "userId": f"wx_{rng.randrange(50_000)}",
                "operationEvent": "查看客户详情",
                "operationTime": at.replace(microsecond=0),
                "event_type": "view_detail" if bulk else rng.choice(TYPES),
                "customer_source": "wechat",
                "operator_id": f"account:{op}",
            }
        )
    return out


def throughput(settings: Settings, rows: int, operators: int) -> dict[str, Any]:
    """Events/s of one worker over a trail written beforehand."""
    day = datetime(2026, 11, 27, 8, 0)
    sources = Sources.from_settings(settings)
    initialise(sources, settings)
    clock = ManualClock((day - timedelta(hours=8)).timestamp() - 0)
    worker = AlertWorker(settings, sources.wechat, clock=clock)
    assert worker.lease.acquire()
    worker.prepare()  # checkpoint on the empty trail: every row below is new
    data = trail(rows, operators, day)
    with sources.wechat.begin() as conn:
        for start in range(0, len(data), 20_000):
            conn.execute(insert(informationtra), data[start : start + 20_000])
    started = time.perf_counter()
    seen = alerts = 0
    while True:
        result = worker.step()
        seen += result.rows
        alerts += result.alerts
        if not result.full:
            break
    elapsed = time.perf_counter() - started
    worker.shutdown()
    sources.dispose()
    return {"rows": seen, "alerts": alerts, "seconds": elapsed, "events_per_s": seen / elapsed}


class _Hook(BaseHTTPRequestHandler):
    arrivals: dict[str, float] = {}

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Hook.arrivals[str(body["operator"]["operatorId"])] = time.time()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def latency(settings: Settings, samples: int) -> dict[str, Any]:
    """Seconds from a row's commit to its webhook's arrival, the worker polling every 1 s."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rules = settings.data_dir / "latency.toml"
    rules.write_text(
        '[[rules]]\nname = "every-view"\nkind = "burst"\nevent_types = ["view_detail"]\n'
        'threshold = 0\nwindow = "1m"\nchannels = ["hook"]\n\n[channels.hook]\nkind = "webhook"\n'
        f'url = "http://127.0.0.1:{server.server_address[1]}/"\n',
        encoding="utf-8",
    )
    settings = settings.model_copy(update={"alert_rules_file": rules})
    sources = Sources.from_settings(settings)
    initialise(sources, settings)
    worker = AlertWorker(settings, sources.wechat)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    time.sleep(2)
    zone = settings.zone
    delays = []
    for n in range(samples):
        operator = f"latency:{n}"
        with sources.wechat.begin() as conn:
            conn.execute(
                insert(informationtra).values(
                    trauserName="测",
                    userId="wx_1",
                    operationEvent="查看客户详情",
                    operationTime=Clock().local_now(zone),
                    event_type="view_detail",
                    operator_id=operator,
                )
            )
        committed = time.time()
        deadline = committed + 10
        while operator not in _Hook.arrivals and time.time() < deadline:
            time.sleep(0.005)
        delays.append(_Hook.arrivals.get(operator, float("inf")) - committed)
        time.sleep(random.uniform(0, 1))  # land anywhere in the poll cycle
    worker.stop()
    thread.join()
    server.shutdown()
    sources.dispose()
    delays.sort()
    return {"samples": samples, "median_s": statistics.median(delays), "max_s": delays[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306")
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--operators", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(
                throughput(
                    make_settings(Path(tmp), args.backend, args.mysql_url),
                    args.rows,
                    args.operators,
                )
            )
            print(f"throughput: {runs[-1]}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        lat = latency(make_settings(Path(tmp), args.backend, args.mysql_url), args.samples)
    summary = {
        "backend": args.backend,
        "events_per_s_median": statistics.median(r["events_per_s"] for r in runs),
        "runs": runs,
        "latency": lat,
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"alerts-{args.backend}-{int(time.time())}.json").write_text(
        json.dumps(summary, indent=2)
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
