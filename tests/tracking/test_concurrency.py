"""Many simultaneous records against `infotrack serve --workers 2`: none lost or doubled."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest

from infotrack.config import Settings
from infotrack.db import Sources
from tests.conftest import PASSWORD, add_contact, add_user, count_records, create_account
from tests.tracking.conftest import BATCH, RECORD, fetch_rows

pytestmark = pytest.mark.slow

CLIENTS = 32
T = TypeVar("T")


def _customers(sources: Sources) -> list[str]:
    """Ten users and five contacts; the phone numbers to record against, in various forms."""
    phones = []
    for n in range(10):
        add_user(sources, f"u{n}", f"138001380{n:02d}")
        phones.append(f"+86 138-0013-80{n:02d}")
    for n in range(5):
        add_contact(sources, f"+86139001390{n:02d}")
        phones.append(f"139001390{n:02d}")
    return phones


def _sign_in(base: str, sources: Sources, settings: Settings, username: str) -> dict[str, str]:
    create_account(sources, settings, username=username)
    response = httpx.post(
        f"{base}/api/auth/login", json={"username": username, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _run_concurrently(
    base: str, jobs: list[T], send: Callable[[httpx.Client, T], Any]
) -> list[Any]:
    """Send every job from CLIENTS threads sharing one connection pool; answers in job order."""
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    with (
        httpx.Client(base_url=base, timeout=60, limits=limits) as http,
        ThreadPoolExecutor(max_workers=CLIENTS) as pool,
    ):
        return list(pool.map(lambda job: send(http, job), jobs))


def test_concurrent_records_with_request_ids_are_written_exactly_once(
    served: str, sources: Sources, settings: Settings
) -> None:
    phones = _customers(sources)
    headers = _sign_in(served, sources, settings, "zhangwei")
    unique = [(f"c-{n:04d}", phones[n % len(phones)]) for n in range(400)]
    # Each of the first 100 is re-sent right behind its original, so the two race, often in
    # different worker processes.
    jobs: list[tuple[str, str]] = []
    for n, job in enumerate(unique):
        jobs.append(job)
        if n < 100:
            jobs.append(job)

    def send(http: httpx.Client, job: tuple[str, str]) -> tuple[str, int, dict[str, Any]]:
        request_id, phone = job
        response = http.post(
            RECORD,
            json={"phoneNumber": phone, "operationEvent": "查看客户详情", "requestId": request_id},
            headers=headers,
        )
        return request_id, response.status_code, response.json()

    answers = _run_concurrently(served, jobs, send)

    assert len(answers) == 500
    assert [status for _, status, _ in answers if status != 200] == []
    ids_by_request: dict[str, set[int]] = defaultdict(set)
    for request_id, _, body in answers:
        assert body["success"] is True
        ids_by_request[request_id].add(body["data"]["id"])
    # Every re-send answered with its original's row.
    assert all(len(ids) == 1 for ids in ids_by_request.values()), ids_by_request
    acknowledged = {request_id: ids.pop() for request_id, ids in ids_by_request.items()}
    assert len(acknowledged) == 400

    rows = fetch_rows(sources)
    assert len(rows) == count_records(sources) == 400
    assert {row["request_id"]: row["id"] for row in rows} == acknowledged
    assert len({row["operator_id"] for row in rows}) == 1


def test_concurrent_records_without_request_ids_are_all_kept(
    served: str, sources: Sources, settings: Settings
) -> None:
    phones = _customers(sources)
    operators = [_sign_in(served, sources, settings, f"sales{n}") for n in range(4)]
    jobs = list(zip(itertools.islice(itertools.cycle(operators), 300), itertools.cycle(phones)))

    def send(http: httpx.Client, job: tuple[dict[str, str], str]) -> tuple[int, dict[str, Any]]:
        headers, phone = job
        response = http.post(
            RECORD,
            params={"isSupplySide": "true"},
            json={"phoneNumber": phone, "operationEvent": "更新客户跟进"},
            headers=headers,
        )
        return response.status_code, response.json()

    answers = _run_concurrently(served, jobs, send)

    assert [status for status, _ in answers if status != 200] == []
    acknowledged = [body["data"]["id"] for _, body in answers]
    assert len(set(acknowledged)) == 300
    rows = fetch_rows(sources)
    assert len(rows) == 300
    assert {row["id"] for row in rows} == set(acknowledged)
    assert len({row["request_id"] for row in rows}) == 300
    per_operator = defaultdict(int)
    for row in rows:
        per_operator[row["operator_id"]] += 1
    assert sorted(per_operator.values()) == [75, 75, 75, 75]


def test_concurrent_overlapping_batches_write_each_request_once(
    served: str, sources: Sources, settings: Settings
) -> None:
    phones = _customers(sources)
    headers = _sign_in(served, sources, settings, "zhangwei")
    # Sixteen batches of 50; each shares half its request ids with the next one.
    batches = [
        [
            {
                "phoneNumber": phones[n % len(phones)],
                "operationEvent": "修改客户信息",
                "requestId": f"b-{n:04d}",
            }
            for n in range(k * 25, k * 25 + 50)
        ]
        for k in range(16)
    ]
    expected = {f"b-{n:04d}" for n in range(16 * 25 + 25)}

    def send(http: httpx.Client, events: list[dict[str, str]]) -> tuple[int, dict[str, Any]]:
        response = http.post(BATCH, json={"events": events}, headers=headers)
        return response.status_code, response.json()

    answers = _run_concurrently(served, batches, send)

    ids_by_request: dict[str, set[int]] = defaultdict(set)
    for (status, body), events in zip(answers, batches, strict=True):
        assert status == 200, body
        assert body["success"] is True, body
        for event, result in zip(events, body["results"], strict=True):
            ids_by_request[event["requestId"]].add(result["data"]["id"])
    assert set(ids_by_request) == expected
    assert all(len(ids) == 1 for ids in ids_by_request.values()), ids_by_request
    rows = fetch_rows(sources)
    assert len(rows) == len(expected)
    assert {row["request_id"]: row["id"] for row in rows} == {
        request_id: next(iter(ids)) for request_id, ids in ids_by_request.items()
    }
