"""``X-Request-ID``: kept when the caller sends one, made when not, on every answer."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from infotrack.db import Sources
from tests.conftest import add_user
from tests.tracking.conftest import RECORD, assert_error

GOOD = {"phoneNumber": "13800138000", "operationEvent": "查看客户详情"}


def test_an_incoming_request_id_is_echoed(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")

    response = client.post(
        RECORD, json=GOOD, headers={**headers, "X-Request-ID": "crm-trace-0f3a.1:7"}
    )

    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == "crm-trace-0f3a.1:7"


def test_without_one_a_request_id_is_generated(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")

    first = client.post(RECORD, json=GOOD, headers=headers)
    second = client.post(RECORD, json=GOOD, headers=headers)

    assert first.status_code == second.status_code == 200
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids), ids
    assert ids[0] != ids[1]


def test_an_unusable_incoming_request_id_is_replaced(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")

    for incoming in ["has spaces", "x" * 129, "<script>"]:
        response = client.post(RECORD, json=GOOD, headers={**headers, "X-Request-ID": incoming})
        assert response.status_code == 200, response.text
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), incoming


@pytest.mark.usefixtures("sources")
def test_error_answers_carry_the_request_id_too(client: TestClient) -> None:
    unauthenticated = client.post(RECORD, json=GOOD, headers={"X-Request-ID": "trace-401"})
    too_large = client.post(
        RECORD,
        content=b"x" * (1024 * 1024 + 1),
        headers={"X-Request-ID": "trace-413", "Content-Type": "application/json"},
    )

    assert_error(unauthenticated, 401)
    assert unauthenticated.headers["X-Request-ID"] == "trace-401"
    assert_error(too_large, 413, "payload_too_large")
    assert too_large.headers["X-Request-ID"] == "trace-413"
