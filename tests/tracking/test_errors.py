"""Every refused call: its status, its ``{"success", "message", "code"}`` body, and no row."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from infotrack.app import create_app
from infotrack.config import Settings
from infotrack.db import Sources
from tests.conftest import add_user, bearer, count_records, create_account, free_port, make_settings
from tests.tracking.conftest import (
    BATCH,
    MISSING_MESSAGE,
    NOT_FOUND_MESSAGE,
    RECORD,
    assert_error,
)

GOOD = {"phoneNumber": "13800138000", "operationEvent": "查看客户详情"}
CRM_SECRET = "crm-shared-secret-0123456789-abcdefghij"


@pytest.fixture
def customer(sources: Sources) -> None:
    """A customer every request below could have found."""
    add_user(sources, "u1", "13800138000")


# --- authentication ------------------------------------------------------------------------


@pytest.mark.usefixtures("customer")
def test_no_credentials_is_401_with_www_authenticate(client: TestClient, sources: Sources) -> None:
    for url, payload in [(RECORD, GOOD), (BATCH, {"events": [GOOD]})]:
        response = client.post(url, json=payload)
        assert_error(response, 401, "unauthorized", url)
        assert response.headers["WWW-Authenticate"] == "Bearer"

    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_bad_credentials_are_401(client: TestClient, sources: Sources, settings: Settings) -> None:
    create_account(sources, settings)
    authorizations = [
        "Bearer garbage",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.bad-signature",
        "Bearer ",
        "Basic emhhbmd3ZWk6czNjcmV0LXBhc3M=",  # zhangwei's real password, wrong scheme
        "garbage",
    ]

    for authorization in authorizations:
        response = client.post(RECORD, json=GOOD, headers={"Authorization": authorization})
        assert_error(response, 401, case=authorization)
        assert response.headers["WWW-Authenticate"] == "Bearer"

    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_a_token_signed_with_another_key_is_401(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    now = int(time.time())
    forged = jwt.encode(
        {"iss": "infotrack", "sub": "1", "ver": 1, "iat": now, "exp": now + 600},
        "another-secret-key-0123456789-abcdefghijklmnop",
        algorithm="HS256",
    )

    response = client.post(RECORD, json=GOOD, headers={"Authorization": f"Bearer {forged}"})

    assert_error(response, 401, "invalid_token")
    assert count_records(sources) == 0


# --- the body ------------------------------------------------------------------------------


def test_unknown_customer_is_404_with_the_seeds_message(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13900139000")

    response = client.post(RECORD, json=GOOD, headers=headers)

    body = assert_error(response, 404, "customer_not_found")
    assert body["message"] == NOT_FOUND_MESSAGE
    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_missing_phone_or_event_is_400_with_the_seeds_message(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    payloads: list[dict[str, object]] = [
        {"operationEvent": "查看客户详情"},
        {"phoneNumber": "13800138000"},
        {},
        {"phoneNumber": "13800138000", "operationEvent": ""},
        {"phoneNumber": "", "operationEvent": "查看客户详情"},
        {"phoneNumber": None, "operationEvent": "查看客户详情"},
        {"phoneNumber": "13800138000", "operationEvent": None},
    ]

    for payload in payloads:
        response = client.post(RECORD, json=payload, headers=headers)
        body = assert_error(response, 400, "missing_field", payload)
        assert body["message"] == MISSING_MESSAGE, payload

    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_invalid_json_is_400(client: TestClient, sources: Sources, headers: dict[str, str]) -> None:
    contents = [b'{"phoneNumber": "13800138000", "operationEvent": ', b"{not json}", b"\xff\xfe?"]

    for content in contents:
        response = client.post(
            RECORD, content=content, headers={**headers, "Content-Type": "application/json"}
        )
        assert_error(response, 400, case=content)

    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_a_body_that_is_not_an_object_is_400(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    contents = ["[]", '["13800138000", "查看客户详情"]', '"13800138000"', "42", "null", ""]

    for content in contents:
        response = client.post(
            RECORD, content=content, headers={**headers, "Content-Type": "application/json"}
        )
        assert_error(response, 400, case=content)

    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_fields_of_the_wrong_type_are_400(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    payloads: list[dict[str, object]] = [
        {"phoneNumber": ["13800138000"], "operationEvent": "查看客户详情"},
        {"phoneNumber": {"n": "13800138000"}, "operationEvent": "查看客户详情"},
        {"phoneNumber": "13800138000", "operationEvent": 42},
        {"phoneNumber": "13800138000", "operationEvent": ["查看客户详情"]},
        {"phoneNumber": "13800138000", "operationEvent": "查看客户详情", "eventType": 1},
    ]

    for payload in payloads:
        assert_error(client.post(RECORD, json=payload, headers=headers), 400, case=payload)

    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_a_bad_is_supply_side_is_400(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    for value in ["maybe", "", "2", "yes please"]:
        response = client.post(RECORD, params={"isSupplySide": value}, json=GOOD, headers=headers)
        assert_error(response, 400, case=value)

    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
@pytest.mark.parametrize(
    ("side", "is_supply_side"), [("supply", "false"), ("sales", "true")], ids=["supply", "sales"]
)
def test_recording_for_the_other_side_is_403(
    client: TestClient, sources: Sources, settings: Settings, side: str, is_supply_side: str
) -> None:
    create_account(sources, settings, side=side)
    headers = bearer(client)
    params = {"isSupplySide": is_supply_side}

    single = client.post(RECORD, params=params, json=GOOD, headers=headers)
    batch = client.post(BATCH, params=params, json={"events": [GOOD]}, headers=headers)

    assert_error(single, 403, "side_mismatch")
    assert_error(batch, 403, "side_mismatch")
    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_a_body_over_one_mebibyte_is_413(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    content = json.dumps({**GOOD, "padding": "x" * (1024 * 1024)}).encode()

    response = client.post(
        RECORD, content=content, headers={**headers, "Content-Type": "application/json"}
    )

    assert_error(response, 413, "payload_too_large")
    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_a_body_over_one_mebibyte_without_content_length_is_413(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    content = json.dumps({**GOOD, "padding": "x" * (1024 * 1024)}).encode()

    def chunks() -> object:
        for start in range(0, len(content), 64 * 1024):
            yield content[start : start + 64 * 1024]

    response = client.post(
        RECORD, content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )

    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_error(response, 413, "payload_too_large")
    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_a_body_just_under_the_limit_is_accepted(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    # Unknown fields are ignored, so a large but allowed body still records.
    content = json.dumps({**GOOD, "padding": "x" * (1000 * 1024)}).encode()
    assert len(content) < 1024 * 1024

    response = client.post(
        RECORD, content=content, headers={**headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 200, response.text
    assert count_records(sources) == 1


def test_an_unknown_path_and_a_wrong_method_answer_in_the_error_shape(
    client: TestClient, headers: dict[str, str]
) -> None:
    assert_error(client.post("/api/information-tracking/nope", json=GOOD, headers=headers), 404)
    assert_error(client.get(RECORD, headers=headers), 405)


# --- the database is down --------------------------------------------------------------------


def _crm_token(**claims: object) -> str:
    payload = {
        "sub": "crm-7",
        "company": "华东贸易有限公司",
        "department": "销售一部",
        "organization": "华东大区",
        "role": "业务员",
        "name": "张伟",
        "assistant": "李娜",
        "side": "supply",
        "exp": int(time.time()) + 600,
        **claims,
    }
    return jwt.encode(payload, CRM_SECRET, algorithm="HS256")


@pytest.fixture
def down_client(tmp_path: Path) -> TestClient:
    """The app with both sources pointing at a MySQL port nobody listens on."""
    port = free_port()
    down = f"mysql+pymysql://root@127.0.0.1:{port}/infotrack"
    settings = make_settings(
        {"wechat": down, "primary": down.replace("/infotrack", "/crm")},
        tmp_path,
        jwt_secret=CRM_SECRET,
    )
    return TestClient(create_app(settings))


def test_database_down_is_503_without_internals(down_client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {_crm_token()}"}
    with down_client as client:
        me = client.get("/api/auth/me", headers=headers)
        assert me.status_code == 200, me.text  # a CRM JWT needs no database
        assert me.json()["data"]["operatorId"] == "jwt:crm-7"

        response = client.post(RECORD, json={**GOOD, "requestId": "r-1"}, headers=headers)

        body = assert_error(response, 503, "database_unavailable")
        for leak in ("pymysql", "OperationalError", "127.0.0.1", "Can't connect", "sqlalchemy"):
            assert leak not in response.text

        batch = client.post(BATCH, json={"events": [GOOD]}, headers=headers)
        assert_error(batch, 503, "database_unavailable")
        assert body["message"] == batch.json()["message"]


def test_database_down_readyz_is_503_and_healthz_is_200(down_client: TestClient) -> None:
    with down_client as client:
        health = client.get("/healthz")
        ready = client.get("/readyz")

    assert health.status_code == 200
    assert health.json()["success"] is True
    assert ready.status_code == 503
    assert ready.json()["success"] is False
    assert ready.json()["code"] == "database_unavailable"
    assert "Traceback" not in ready.text


def test_login_with_the_database_down_is_503(down_client: TestClient) -> None:
    with down_client as client:
        response = client.post(
            "/api/auth/login", json={"username": "zhangwei", "password": "x" * 10}
        )

    assert_error(response, 503, "database_unavailable")
