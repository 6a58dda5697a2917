"""The worker as real processes: ``infotrack alerts run``, killed and restarted, run twice
at once, and inside ``infotrack serve``; webhooks to a real local receiver."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.kit.clock import Clock
from tests.alerts.conftest import BURST_RULES, add_rows, alerts, burst, write_rules
from tests.alerts.receiver import Receiver
from tests.alerts.test_worker import reference_triggers
from tests.conftest import PASSWORD, add_user, cli_env, create_account, run_cli, run_server

FAST = {"INFOTRACK_ALERTS_POLL_INTERVAL": "0.2", "INFOTRACK_ALERTS_LEASE_TTL": "3"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on a local port."""
    with Receiver() as server:
        yield server


@pytest.fixture
def rules_env(receiver: Receiver, tmp_path: Path) -> dict[str, str]:
    """Environment naming a rules file: more than 5 views in 10 minutes, to the receiver."""
    path = write_rules(tmp_path / "rules.toml", BURST_RULES.format(url=receiver.url("/hook")))
    return {"INFOTRACK_ALERT_RULES_FILE": str(path), **FAST}


@contextmanager
def alert_worker(
    settings: Settings, env: dict[str, str], name: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``infotrack alerts run`` as a process; killed at the end if still alive."""
    log = (settings.data_dir / f"{name}.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "infotrack", "alerts", "run"],
        env=cli_env(settings) | env,
        cwd=settings.data_dir,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.close()


def now_local(settings: Settings) -> datetime:
    """The local wall-clock time the worker sees."""
    return Clock().local_now(settings.zone)


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_check_and_run_refuse_a_bad_rules_file_naming_line_and_key(
    settings: Settings, sources: Sources, tmp_path: Path
) -> None:
    bad = write_rules(
        tmp_path / "bad.toml",
        '[[rules]]\nname = "x"\nkind = "burst"\nthreshold = "many"\nwindow = "10m"\n',
    )
    checked = run_cli(settings, "alerts", "check", str(bad))
    assert checked.returncode == 1
    assert "第 4 行" in checked.stderr
    assert "threshold" in checked.stderr
    ran = run_cli(
        settings, "alerts", "run", "--once", extra_env={"INFOTRACK_ALERT_RULES_FILE": str(bad)}
    )
    assert ran.returncode == 1
    assert "第 4 行" in ran.stderr
    assert "threshold" in ran.stderr
    served = run_cli(
        settings,
        "serve",
        "--port",
        "1",
        extra_env={"INFOTRACK_ALERT_RULES_FILE": str(bad), "INFOTRACK_ALERTS_IN_PROCESS": "true"},
    )
    assert served.returncode == 1
    assert "threshold" in served.stderr
    good = run_cli(settings, "alerts", "check")
    assert good.returncode == 0, good.stderr
    assert "bulk-view" in good.stdout
    assert "规则文件有效" in good.stdout


def test_a_worker_killed_mid_stream_and_restarted_neither_misses_nor_repeats(
    settings: Settings, sources: Sources, receiver: Receiver, rules_env: dict[str, str]
) -> None:
    start = now_local(settings) - timedelta(minutes=8)
    with alert_worker(settings, rules_env, "first") as first:
        wait_until(lambda: _checkpointed(sources))
        add_rows(sources.wechat, burst(start, 7, every=timedelta(seconds=20)))
        receiver.wait_for(1, timeout=20)
        first.send_signal(signal.SIGKILL)  # no goodbye: the lease must run out
    # While nobody runs: more of the same burst (cooling down) and a new operator's burst.
    add_rows(sources.wechat, burst(start + timedelta(minutes=3), 5, every=timedelta(seconds=10)))
    add_rows(sources.wechat, burst(start, 6, operator="account:2", name="李四"))
    with alert_worker(settings, rules_env, "second"):
        receiver.wait_for(2, timeout=30)
        time.sleep(1.5)  # a few more polls: anything repeated would show now
    stored = sorted(alert.trigger_id for alert in alerts(sources.wechat))
    assert stored == sorted(reference_triggers(_with_rules(settings, rules_env), sources))
    assert len(stored) == 2
    assert len({json.loads(r.body)["alertId"] for r in receiver.requests}) == 2
    assert len(receiver.requests) == 2


def test_two_workers_started_together_make_each_alert_once(
    settings: Settings, sources: Sources, receiver: Receiver, rules_env: dict[str, str]
) -> None:
    start = now_local(settings) - timedelta(minutes=5)
    with alert_worker(settings, rules_env, "a"), alert_worker(settings, rules_env, "b"):
        wait_until(lambda: _checkpointed(sources))
        for n in range(3):
            add_rows(sources.wechat, burst(start, 6, operator=f"account:{n + 10}", name=f"员工{n}"))
        receiver.wait_for(3, timeout=30)
        time.sleep(1.5)
    assert len(alerts(sources.wechat)) == 3
    assert sorted(json.loads(r.body)["alertId"] for r in receiver.requests) == [
        a.id for a in alerts(sources.wechat)
    ]


def test_serve_runs_the_worker_in_process(
    settings: Settings, sources: Sources, receiver: Receiver, rules_env: dict[str, str]
) -> None:
    create_account(sources, settings)
    add_user(sources, "wx_1", "13800138000", "王小明")
    env = {**rules_env, "INFOTRACK_ALERTS_IN_PROCESS": "true"}
    with run_server(settings, workers=2, extra_env=env) as base:
        token = httpx.post(
            f"{base}/api/auth/login", json={"username": "zhangwei", "password": PASSWORD}
        ).json()["token"]
        for _ in range(6):
            answer = httpx.post(
                f"{base}/api/information-tracking/record",
                json={"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 200, answer.text
        [request] = receiver.wait_for(1, timeout=20)
        time.sleep(1.5)
    assert len(receiver.requests) == 1  # two server processes, one alert
    body = json.loads(request.body)
    assert (body["rule"], body["count"], body["operator"]["name"]) == ("bulk-view", 6, "张伟")


def _checkpointed(sources: Sources) -> bool:
    from sqlalchemy import text

    with sources.wechat.connect() as conn:
        return (
            conn.execute(text("SELECT checkpoint FROM infotrack_worker_state")).scalar() is not None
        )


def _with_rules(settings: Settings, env: dict[str, str]) -> Settings:
    return settings.model_copy(update={"alert_rules_file": Path(env["INFOTRACK_ALERT_RULES_FILE"])})
