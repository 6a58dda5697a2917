"""Ingest benchmark: how many records/s ``POST /api/information-tracking/record`` acknowledges.

For one backend (MariaDB or SQLite) the script

1. creates fresh databases (MariaDB: ``infotrack_bench_w`` / ``infotrack_bench_p``, utf8mb4;
   SQLite: two files in a temporary directory), runs ``infotrack init``, bulk-inserts
   ``--customers`` wechat users (``139…``) and as many primary contacts (``137…``), and adds
   a supply-side account;
2. starts ``infotrack serve --workers N`` with request logging on, the product's default
   (``--request-log on off`` measures both), and logs in for a bearer token;
3. for each ``--clients`` count: a short warm-up, then ``wrk -t2 -c<clients> -d<duration>s
   --latency`` with ``benchmarks/ingest.lua`` (70 % wechat customers, 20 % contacts, 10 %
   unknown numbers answered 404; a unique ``requestId`` per request);
4. reports acknowledged records/s (200 answers / duration), p50/p99 latency (wrk's numbers,
   over all answers, 404s included) and the CPU seconds each party used, then checks that
   every acknowledged record is in ``informationtra`` (rows carrying the run's requestId
   prefix >= 200 answers; a surplus is requests committed while wrk was cutting off);
5. writes a JSON summary to ``benchmarks/results/`` and prints Markdown table rows.

Needs ``wrk`` (``apt-get install wrk``), Linux (``/proc`` for CPU accounting) and, for
``--backend mysql``, a MariaDB/MySQL server (default ``root@127.0.0.1:3306``) on which the
script may drop and create the two benchmark databases.

    .venv/bin/python benchmarks/ingest.py --backend mysql --clients 16 64 --duration 20

See ``benchmarks/README.md`` for how to read the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA_SCRIPT = HERE / "ingest.lua"
RESULTS_DIR = HERE / "results"
RECORD_PATH = "/api/information-tracking/record?isSupplySide=true"

# Phone ranges; ingest.lua draws from the same ones.
WECHAT_PREFIX = "139"
CONTACTS_PREFIX = "137"
MYSQL_DATABASES = ("infotrack_bench_w", "infotrack_bench_p")
ACCOUNT = "bench"
TICKS = os.sysconf("SC_CLK_TCK")


# --- backends ---------------------------------------------------------------------------------
@dataclass
class Backend:
    """Where the two sources live, and how to make them fresh."""

    name: str
    wechat_url: str
    primary_url: str
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def mysql(cls, server_url: str, url_query: str = "") -> Backend:
        """Drop and create the two benchmark databases on the server."""
        server = make_url(server_url).set(database=None)
        engine = create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for db in MYSQL_DATABASES:
                    conn.execute(text(f"DROP DATABASE IF EXISTS `{db}`"))
                    conn.execute(
                        text(
                            f"CREATE DATABASE `{db}` "
                            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                        )
                    )
                info = {
                    "server_version": conn.execute(text("SELECT VERSION()")).scalar_one(),
                    **{
                        str(name): str(value)
                        for name, value in conn.execute(
                            text(
                                "SHOW VARIABLES WHERE Variable_name IN ("
                                "'innodb_flush_log_at_trx_commit', 'sync_binlog', 'log_bin', "
                                "'innodb_buffer_pool_size', 'innodb_flush_method')"
                            )
                        )
                    },
                }
        finally:
            engine.dispose()
        if url_query:
            server = server.update_query_string(url_query, append=True)
        wechat, primary = (
            server.set(database=db).render_as_string(hide_password=False) for db in MYSQL_DATABASES
        )
        return cls("mysql", wechat, primary, info)

    @classmethod
    def sqlite(cls, directory: Path) -> Backend:
        """Two fresh files in ``directory``."""
        import sqlite3

        return cls(
            "sqlite",
            f"sqlite:///{directory / 'wechat.db'}",
            f"sqlite:///{directory / 'primary.db'}",
            {"server_version": sqlite3.sqlite_version, "directory": str(directory)},
        )

    def engine(self, which: str) -> Engine:
        """A small engine on one source, for seeding and counting."""
        return create_engine(self.wechat_url if which == "wechat" else self.primary_url)


def seed_customers(backend: Backend, customers: int) -> float:
    """Bulk-insert ``customers`` users and as many contacts; returns the seconds it took."""
    started = time.perf_counter()
    batch = 5000
    for which, sql, prefix in (
        (
            "wechat",
            "INSERT INTO users (userId, phoneNumber, nickName) VALUES (:id, :phone, :name)",
            WECHAT_PREFIX,
        ),
        (
            "primary",
            "INSERT INTO contacts (id, phoneNumber, name) VALUES (:id, :phone, :name)",
            CONTACTS_PREFIX,
        ),
    ):
        engine = backend.engine(which)
        try:
            with engine.begin() as conn:
                for start in range(0, customers, batch):
                    rows = [
                        {
                            "id": f"wx{i:07d}" if which == "wechat" else i + 1,
                            "phone": f"{prefix}{i:08d}",
                            "name": f"客户{i}",
                        }
                        for i in range(start, min(start + batch, customers))
                    ]
                    conn.execute(text(sql), rows)
        finally:
            engine.dispose()
    return time.perf_counter() - started


def count_rows(engine: Engine, run_id: str | None = None) -> int:
    """Rows of ``informationtra`` (only this run's when ``run_id`` is given)."""
    with engine.connect() as conn:
        if run_id is None:
            return int(conn.execute(text("SELECT COUNT(*) FROM informationtra")).scalar_one())
        query = text("SELECT COUNT(*) FROM informationtra WHERE request_id LIKE :prefix")
        return int(conn.execute(query, {"prefix": f"{run_id}-%"}).scalar_one())


def settled_count(engine: Engine, run_id: str, timeout: float = 15.0) -> int:
    """This run's row count once it stops changing (requests in flight at cut-off finish)."""
    deadline = time.monotonic() + timeout
    last = count_rows(engine, run_id)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = count_rows(engine, run_id)
        if now == last:
            return now
        last = now
    return last


# --- processes --------------------------------------------------------------------------------
def infotrack(
    bin_path: Path, args: list[str], env: dict[str, str], cwd: Path, stdin: str = ""
) -> str:
    """Run one ``infotrack`` command; raise with its output when it fails."""
    done = subprocess.run(
        [str(bin_path), *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"infotrack {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    """GET (or POST ``body``) and decode the JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as answer:
        return json.loads(answer.read())


@contextmanager
def server(
    bin_path: Path, port: int, workers: int, env: dict[str, str], cwd: Path, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``infotrack serve`` until the block ends; waits for ``/readyz`` first."""
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [str(bin_path), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"server exited ({proc.returncode}):\n{_tail(log_path)}")
                try:
                    if http_json(f"http://127.0.0.1:{port}/readyz", timeout=2)["success"]:
                        break
                except (OSError, urllib.error.URLError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"server not ready after 60 s:\n{_tail(log_path)}")
                time.sleep(0.2)
            while len(worker_pids(proc.pid)) < workers and time.monotonic() < deadline:
                time.sleep(0.2)
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what we started
                proc.wait()


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def worker_pids(parent: int) -> list[int]:
    """uvicorn's worker processes (spawned children of the ``serve`` process)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return sorted(pids)


def database_pids() -> list[int]:
    """The MariaDB/MySQL server's pid, when it runs on this machine."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("mariadbd", "mysqld"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (threads included)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


def wait_for_quiet(max_wait: float, threshold: float = 0.15) -> None:
    """Wait (at most ``max_wait`` s) until the machine is nearly idle: others skew results."""
    deadline = time.monotonic() + max_wait
    while True:
        busy0, total0 = machine_busy()
        time.sleep(1.0)
        busy1, total1 = machine_busy()
        load = (busy1 - busy0) / max(total1 - total0, 1e-9)
        if load < threshold:
            return
        if time.monotonic() > deadline:
            print(f"   (machine still {load:.0%} busy after {max_wait:g} s; measuring anyway)")
            return


# --- one wrk run ------------------------------------------------------------------------------
@dataclass
class RunResult:
    """One measured wrk run."""

    backend: str
    clients: int
    duration_s: float
    request_log: bool
    requests: int
    acked: int
    not_found: int
    other: int
    other_statuses: dict[str, int]
    socket_errors: dict[str, int]
    records_per_s: float
    requests_per_s: float
    latency_ms: dict[str, float]
    rows: int
    rows_minus_acked: int
    all_acked_present: bool
    cpu_s: dict[str, float]
    warmup_acked: int
    warmup_rows: int

    def markdown(self, date: str) -> str:
        """One row of the README's results table."""
        lat = self.latency_ms
        other = self.other + sum(self.socket_errors.values())
        return (
            f"| {date} | {self.backend} | {self.clients} | {self.duration_s:.0f} s "
            f"| {'on' if self.request_log else 'off'} | **{self.records_per_s:,.0f}** "
            f"| {self.requests_per_s:,.0f} | {lat['p50']:.1f} | {lat['p99']:.1f} "
            f"| {self.acked:,} / {self.not_found:,} / {other:,} "
            f"| {self.rows:,} ({self.rows_minus_acked:+d}) "
            f"| {'yes' if self.all_acked_present else '**NO**'} "
            f"| {self.server_cpu_ms_per_request:.2f} | {self.foreign_load:.0%} |"
        )

    @property
    def server_cpu_ms_per_request(self) -> float:
        """Server CPU (both workers) per answered request: steadier than rates on a busy box."""
        return self.cpu_s.get("server", 0.0) * 1000 / max(self.requests, 1)

    @property
    def foreign_load(self) -> float:
        """Share of the machine's CPU that other processes took during the run."""
        total = self.cpu_s.get("machine_total") or 1.0
        return max(self.cpu_s.get("foreign", 0.0), 0.0) / total


MARKDOWN_HEADER = (
    "| date | backend | clients | duration | request log | records/s | requests/s "
    "| p50 ms | p99 ms | 200 / 404 / other | rows (rows − 200s) | all acked present "
    "| server CPU ms/req | foreign CPU |\n"
    "|---|---|---:|---:|---|---:|---:|---:|---:|---|---|---|---:|---:|"
)


def run_wrk(
    wrk: str, url: str, token: str, run_id: str, customers: int, clients: int,
    duration: float, threads: int,
) -> tuple[dict[str, Any], str]:  # fmt: skip
    """One wrk run; returns the script's INGEST_RESULT and wrk's own text output."""
    cmd = [
        wrk, f"-t{threads}", f"-c{clients}", f"-d{duration:g}s", "--latency", "--timeout", "15s",
        "-s", str(LUA_SCRIPT), url, "--", token, run_id, str(customers),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    for line in done.stdout.splitlines():
        if line.startswith("INGEST_RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("INGEST_RESULT "))
            report = "\n".join(
                ln for ln in done.stdout.splitlines() if not ln.startswith("INGEST_RESULT ")
            )
            return result, report
    raise SystemExit(f"wrk printed no INGEST_RESULT:\n{done.stdout}{done.stderr}")


def measure(
    args: argparse.Namespace, backend: Backend, wechat: Engine, server_pid: int,
    url: str, token: str, clients: int, index: int, request_log: bool,
) -> RunResult:  # fmt: skip
    """Warm up, run wrk once at ``clients`` connections, check the rows."""
    nonce = secrets.token_hex(3)
    threads = min(args.threads, clients)
    tag = f"{'L' if request_log else 'N'}{clients}x{index}-{nonce}"
    warm_id = f"w{tag}"
    warm_acked = 0
    warm_rows = 0
    if args.warmup > 0:
        warm, _ = run_wrk(
            args.wrk, url, token, warm_id, args.customers, clients, args.warmup, threads
        )
        warm_acked = warm["ok"]
        warm_rows = settled_count(wechat, warm_id)

    run_id = f"m{tag}"
    if args.quiet_wait > 0:
        wait_for_quiet(args.quiet_wait)
    workers = worker_pids(server_pid)
    db = database_pids() if backend.name == "mysql" else []
    before = {
        "server": cpu_seconds([server_pid, *workers]),
        "database": cpu_seconds(db),
    }
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before = machine_busy()
    result, report = run_wrk(
        args.wrk, url, token, run_id, args.customers, clients, args.duration, threads
    )
    busy_after = machine_busy()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {
        "server": cpu_seconds([server_pid, *workers]) - before["server"],
        "database": cpu_seconds(db) - before["database"],
        "wrk": (children_after.ru_utime + children_after.ru_stime)
        - (children_before.ru_utime + children_before.ru_stime),
        "machine_busy": busy_after[0] - busy_before[0],
        "machine_total": busy_after[1] - busy_before[1],
    }
    # Anything else on the machine (other users' tests, say) skews the figures: show it.
    cpu["foreign"] = cpu["machine_busy"] - cpu["server"] - cpu["database"] - cpu["wrk"]
    rows = settled_count(wechat, run_id)

    seconds = result["duration_us"] / 1e6
    acked = result["ok"]
    lat = {k: v / 1000 for k, v in result["latency_us"].items()}
    measured = RunResult(
        backend=backend.name,
        clients=clients,
        duration_s=seconds,
        request_log=request_log,
        requests=result["requests"],
        acked=acked,
        not_found=result["not_found"],
        other=result["other"],
        other_statuses=result["other_statuses"],
        socket_errors={k: v for k, v in result["errors"].items() if k != "status"},
        records_per_s=acked / seconds,
        requests_per_s=result["requests"] / seconds,
        latency_ms=lat,
        rows=rows,
        rows_minus_acked=rows - acked,
        all_acked_present=rows >= acked,
        cpu_s={k: round(v, 2) for k, v in cpu.items()},
        warmup_acked=warm_acked,
        warmup_rows=warm_rows,
    )
    print(report)
    print(
        f"-> {backend.name} c={clients} log={'on' if request_log else 'off'}: "
        f"{measured.records_per_s:,.0f} records/s "
        f"({measured.requests_per_s:,.0f} req/s), p50 {lat['p50']:.1f} ms, "
        f"p99 {lat['p99']:.1f} ms; 200={acked} 404={measured.not_found} "
        f"other={measured.other} {measured.other_statuses or ''}; rows={rows} "
        f"({rows - acked:+d}); CPU s: server {cpu['server']:.1f} "
        f"({measured.server_cpu_ms_per_request:.2f} ms/req), db {cpu['database']:.1f}, "
        f"wrk {cpu['wrk']:.1f}, foreign {cpu['foreign']:.1f}, "
        f"machine {cpu['machine_busy']:.1f}/{cpu['machine_total']:.1f}",
        flush=True,
    )
    return measured


# --- main -------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        epilog="See benchmarks/README.md for what is measured and the latest figures.",
    )
    parser.add_argument(
        "--backend",
        choices=("mysql", "sqlite"),
        required=True,
        help="mysql: fresh databases on --mysql-url; sqlite: two files in a temporary directory",
    )
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[16, 64], help="concurrent connections (wrk -c)"
    )
    parser.add_argument("--duration", type=float, default=20, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=5, help="warm-up seconds before each run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per client count (median)")
    parser.add_argument("--customers", type=int, default=20_000, help="users and contacts each")
    parser.add_argument("--workers", type=int, default=2, help="infotrack serve --workers")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (wrk -t)")
    parser.add_argument(
        "--request-log",
        choices=("on", "off"),
        nargs="+",
        default=["on"],
        help="INFOTRACK_LOG_REQUESTS; 'on off' measures both (on is the product's default)",
    )
    parser.add_argument(
        "--url-query",
        default="",
        help="appended to both MySQL URLs, e.g. 'ssl_disabled=true' (an experiment knob)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the server, e.g. INFOTRACK_DB_POOL_SIZE=64 (repeatable)",
    )
    parser.add_argument(
        "--mysql-url",
        default=os.environ.get("INFOTRACK_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"),
        help="server URL; the script drops/creates infotrack_bench_w and infotrack_bench_p",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="before each run, wait up to this many seconds for an idle machine (0: don't)",
    )
    parser.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    parser.add_argument(
        "--infotrack",
        type=Path,
        default=Path(sys.executable).parent / "infotrack",
        help="the infotrack command (default: next to this Python)",
    )
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="the wrk binary")
    parser.add_argument(
        "--src",
        type=Path,
        help="run the package from this src/ directory instead of the checkout (a snapshot: "
        "git archive COMMIT src | tar -x -C DIR)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON summary goes"
    )
    args = parser.parse_args(argv)
    if not shutil.which(args.wrk):
        parser.error("wrk not found: apt-get install wrk (or pass --wrk)")
    if not args.infotrack.exists():
        parser.error(f"{args.infotrack} not found: run `make install` or pass --infotrack")
    for item in args.server_env:
        if "=" not in item:
            parser.error(f"--server-env {item!r}: expected NAME=VALUE")
    if args.customers > 100_000_000:
        parser.error("--customers: at most 100 000 000 (8-digit suffixes)")
    return args


def code_version(src: Path | None) -> dict[str, Any]:
    """Which code ran: the checkout's commit and its uncommitted changes under src/."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return done.stdout.strip()

    tree = (src or ROOT / "src").resolve()
    digest = hashlib.sha256()
    for path in sorted(tree.rglob("*.py")):
        digest.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes())
    return {
        "src": str(tree),
        "src_sha256": digest.hexdigest()[:16],  # tells two runs' code apart, whatever git says
        # The checkout's state (meaningful only without --src).
        "git": git("describe", "--always", "--dirty") or None,
        "src_changes": [] if src else git("status", "--porcelain", "--", "src").splitlines(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC).astimezone()
    code = code_version(args.src)
    if code["src_changes"] and not args.src:
        print(f"note: src/ has uncommitted changes: {', '.join(code['src_changes'])}")
    workdir = Path(tempfile.mkdtemp(prefix=f"infotrack-bench-{args.backend}-"))
    try:
        if args.backend == "mysql":
            backend = Backend.mysql(args.mysql_url, args.url_query)
        else:
            backend = Backend.sqlite(workdir)
        env = {
            **os.environ,
            "INFOTRACK_WECHAT_DB_URL": backend.wechat_url,
            "INFOTRACK_PRIMARY_DB_URL": backend.primary_url,
            "INFOTRACK_SECRET_KEY": secrets.token_urlsafe(48),
            "INFOTRACK_DATA_DIR": str(workdir / "data"),
            **dict(item.split("=", 1) for item in args.server_env),
        }
        if args.src:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(args.src.resolve()), os.environ.get("PYTHONPATH")) if p
            )
        print(f"[{args.backend}] init, {args.customers:,} users + {args.customers:,} contacts …")
        infotrack(args.infotrack, ["init"], env, workdir)
        seeded = seed_customers(backend, args.customers)
        password = secrets.token_urlsafe(16)
        infotrack(
            args.infotrack,
            ["account", "add", ACCOUNT, "--password-stdin", "--company", "基准测试公司",
             "--department", "销售一部", "--role", "业务员", "--name", "张三", "--side", "supply"],
            env, workdir, stdin=password + "\n",
        )  # fmt: skip
        wechat = backend.engine("wechat")
        runs: list[RunResult] = []
        log_lines = 0
        log_errors: list[str] = []
        print(f"[{args.backend}] seeded in {seeded:.1f} s")
        for mode in args.request_log:
            port = args.port or free_port()
            base = f"http://127.0.0.1:{port}"
            log_path = workdir / f"server-log-{mode}.log"
            server_env = {**env, "INFOTRACK_LOG_REQUESTS": "true" if mode == "on" else "false"}
            with server(args.infotrack, port, args.workers, server_env, workdir, log_path) as proc:
                login = {"username": ACCOUNT, "password": password}
                token = http_json(f"{base}/api/auth/login", login)["token"]
                print(f"[{args.backend}] serving on {base} (pid {proc.pid}), request log {mode}")
                for clients in args.clients:
                    for index in range(args.repeat):
                        runs.append(
                            measure(args, backend, wechat, proc.pid, base + RECORD_PATH, token,
                                    clients, index, mode == "on")
                        )  # fmt: skip
            log_text = log_path.read_text(encoding="utf-8", errors="replace")
            log_lines += log_text.count("\n")
            log_errors += [
                ln for ln in log_text.splitlines() if " ERROR " in ln or "Traceback" in ln
            ]
        total_rows = count_rows(wechat)
        wechat.dispose()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    medians = {}
    for mode in args.request_log:
        for clients in args.clients:
            group = [r for r in runs if r.clients == clients and r.request_log == (mode == "on")]
            medians[f"log-{mode}/{clients}"] = _median(runs, group)
    summary = {
        "benchmark": "ingest",
        "date": started.isoformat(timespec="seconds"),
        "code": code,
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "backend": {"name": backend.name, **backend.info},
        "settings": {
            "clients": args.clients,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repeat": args.repeat,
            "customers": args.customers,
            "workers": args.workers,
            "wrk_threads": args.threads,
            "request_log": args.request_log,
            "url_query": args.url_query,
            "server_env": args.server_env,
            "mix": {"wechat": 0.7, "contacts": 0.2, "unknown": 0.1},
        },
        "runs": [
            {
                **asdict(r),
                "server_cpu_ms_per_request": round(r.server_cpu_ms_per_request, 3),
                "foreign_load": round(r.foreign_load, 3),
            }
            for r in runs
        ],
        "medians": medians,
        "informationtra_rows_total": total_rows,
        "server_log": {"lines": log_lines, "errors": log_errors[:20]},
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"ingest-{backend.name}-{started:%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    date = f"{started:%Y-%m-%d}"
    print()
    print(MARKDOWN_HEADER)
    for run in runs:
        print(run.markdown(date))
    for key, median in medians.items():
        if median["runs"] > 1:
            print(
                f"\nmedian of {median['runs']} ({key} clients): "
                f"{median['records_per_s']:,.0f} records/s, p50 {median['p50_ms']:.1f} ms, "
                f"p99 {median['p99_ms']:.1f} ms"
            )
    if log_errors:
        print(f"\nserver log has {len(log_errors)} error lines, e.g. {log_errors[0]}")
    print(f"\nsummary: {out}")
    return 0 if all(r.all_acked_present for r in runs) else 1


def _median(runs: list[RunResult], group: list[RunResult]) -> dict[str, Any]:
    rate = statistics.median(r.records_per_s for r in group)
    middle = min(group, key=lambda r: abs(r.records_per_s - rate))
    return {
        "records_per_s": round(rate, 1),
        "p50_ms": statistics.median(r.latency_ms["p50"] for r in group),
        "p99_ms": statistics.median(r.latency_ms["p99"] for r in group),
        "runs": len(group),
        "median_run": runs.index(middle),
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


if __name__ == "__main__":
    sys.exit(main())
