"""Export benchmark: the real ``infotrack export`` command over a large ``informationtra``.

The databases are those of ``history.py`` (same options; ``--reuse`` keeps a filled one).
Each case runs the command as a child process ``--repeat`` times, as a 系统管理员 (scope: all),
and reports the median wall time and the largest peak RSS of the child:

- CSV and XLSX of every row (1 000 000 by default);
- PDF of the newest records up to the PDF limit (a date range of the last days holding
  at most 20 000 rows).

Targets (issue "Exports"): CSV < 15 s, XLSX < 60 s, each < 200 MB peak RSS; PDF of 20 000
rows < 30 s.

    .venv/bin/python benchmarks/exports.py --backend sqlite --dir /tmp/ith --reuse
    .venv/bin/python benchmarks/exports.py --backend mysql --reuse
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from history import add_database_arguments, prepare  # noqa: E402
from infotrack.config import Settings  # noqa: E402
from infotrack.db import Sources  # noqa: E402
from infotrack.kit.clock import local_now  # noqa: E402
from infotrack.models.informationtra import informationtra  # noqa: E402
from ingest import RESULTS_DIR  # noqa: E402

PDF_ROWS = 20_000


def pdf_range(settings: Settings) -> dict[str, str]:
    """``--from``: the widest start (whole local days back from tomorrow) with ≤ 20 000 rows."""
    sources = Sources.from_settings(settings)
    t = informationtra.c
    tomorrow = local_now(settings.zone).replace(tzinfo=None) + timedelta(days=1)
    end = tomorrow.replace(hour=0, minute=0, second=0, microsecond=0)
    best = end
    with sources.wechat.connect() as conn:
        for days in range(1, 400):
            start = end - timedelta(days=days)
            count = conn.execute(
                select(func.count()).where(t.operationTime >= start, t.operationTime < end)
            ).scalar_one()
            if count > PDF_ROWS:
                break
            best = start
    sources.dispose()
    return {"--from": best.date().isoformat()}


def env_for(settings: Settings) -> dict[str, str]:
    """The child's environment: the benchmark's databases, nothing from the shell's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFOTRACK_")}
    env.update(
        {
            "INFOTRACK_WECHAT_DB_URL": settings.wechat_db_url,
            "INFOTRACK_PRIMARY_DB_URL": settings.primary_db_url,
            "INFOTRACK_SECRET_KEY": settings.secret_key or "",
            "INFOTRACK_DATA_DIR": str(settings.data_dir),
        }
    )
    return env


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one ``infotrack`` child process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "infotrack", *args], env=env, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    stderr = child.stderr.read().decode() if child.stderr else ""
    if status != 0:
        raise SystemExit(f"infotrack {' '.join(args)} failed:\n{stderr}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    """Run the export benchmark."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_database_arguments(parser)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", nargs="+", default=["csv", "xlsx", "pdf"])
    args = parser.parse_args()
    settings, _ = prepare(args)
    env = env_for(settings)
    out_dir = Path(tempfile.mkdtemp(prefix="infotrack-exports-"))
    load = os.getloadavg()[0]
    results: dict[str, dict[str, float]] = {}
    for fmt in args.formats:
        filters = pdf_range(settings) if fmt == "pdf" else {}
        target = out_dir / f"export.{fmt}"
        command = ["export", "--format", fmt, "--out", str(target), "--as", "root"]
        for option, value in filters.items():
            command += [option, value]
        runs = [run_once(command, env) for _ in range(args.repeat)]
        seconds = [s for s, _ in runs]
        results[fmt] = {
            "seconds_median": round(statistics.median(seconds), 1),
            "seconds_min": round(min(seconds), 1),
            "seconds_max": round(max(seconds), 1),
            "peak_rss_mb": round(max(rss for _, rss in runs)),
            "file_mb": round(target.stat().st_size / 1e6, 1),
        }
        label = f"{fmt} {' '.join(f'{k} {v}' for k, v in filters.items())}".strip()
        print(
            f"| {args.backend} | {label} | {results[fmt]['seconds_median']} s "
            f"({results[fmt]['seconds_min']}–{results[fmt]['seconds_max']}) | "
            f"{results[fmt]['peak_rss_mb']} MB | {results[fmt]['file_mb']} MB |",
            flush=True,
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS_DIR / f"exports-{args.backend}-{stamp}.json"
    out.write_text(
        json.dumps(
            {"backend": args.backend, "rows": args.rows, "load_1m": load, "results": results},
            ensure_ascii=False,
            indent=2,
        )
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
