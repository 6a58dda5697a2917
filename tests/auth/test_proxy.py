"""Identity headers from the CRM's reverse proxy, and X-Forwarded-For, trusted only from proxies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from infotrack.config import Settings
from infotrack.db import Sources
from tests.auth.conftest import ClientFactory
from tests.conftest import add_user, bearer, create_account, run_server

ME = "/api/auth/me"
RECORD = "/api/information-tracking/record"
PROXY = ("127.0.0.1", 50000)
OUTSIDER = ("192.0.2.10", 50000)

PROXY_HEADERS = {
    "X-InfoTrack-User-Id": "crm-77",
    "X-InfoTrack-Company": quote("华东贸易有限公司"),
    "X-InfoTrack-Department": quote("销售二部"),
    "X-InfoTrack-Organization": quote("华东大区"),
    "X-InfoTrack-Role": quote("业务员"),
    "X-InfoTrack-Name": quote("王芳"),
    "X-InfoTrack-Assistant": quote("赵磊"),
    "X-InfoTrack-Side": "supply",
}


def behind_proxy(
    client_with: ClientFactory, peer: tuple[str, int] = PROXY, **overrides: Any
) -> TestClient:
    overrides.setdefault("trusted_proxies", ["127.0.0.1/32"])
    return client_with(peer=peer, **overrides)


def client_addrs(sources: Sources) -> list[Any]:
    with sources.wechat.connect() as conn:
        return [
            r[0] for r in conn.execute(text("SELECT client_addr FROM informationtra ORDER BY id"))
        ]


def record(client: TestClient, headers: dict[str, str]) -> Any:
    return client.post(
        RECORD,
        json={"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
        headers=headers,
    )


def test_headers_from_a_trusted_proxy(client_with: ClientFactory) -> None:
    client = behind_proxy(client_with)
    response = client.get(ME, headers=PROXY_HEADERS)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert {k: data[k] for k in ("operatorId", "company", "department", "name", "assistant")} == {
        "operatorId": "proxy:crm-77",
        "company": "华东贸易有限公司",
        "department": "销售二部",
        "name": "王芳",
        "assistant": "赵磊",
    }
    assert (data["organization"], data["role"], data["side"], data["via"]) == (
        "华东大区",
        "业务员",
        "supply",
        "proxy",
    )


def test_proxy_identity_is_stamped_on_the_record(
    client_with: ClientFactory, sources: Sources
) -> None:
    add_user(sources, "u1", "13800138000")
    client = behind_proxy(client_with)
    response = record(client, PROXY_HEADERS)
    assert response.status_code == 200, response.text
    with sources.wechat.connect() as conn:
        row = conn.execute(
            text("SELECT tracompany, trauserName, operator_id, side FROM informationtra")
        ).one()
    assert tuple(row) == ("华东贸易有限公司", "王芳", "proxy:crm-77", "supply")


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        (OUTSIDER, ["127.0.0.1/32"]),
        (PROXY, []),  # no proxies configured: headers are never trusted
        (("testclient", 50000), ["127.0.0.1/32"]),  # not even an address
        (("10.0.0.9", 50000), ["10.0.1.0/24"]),
    ],
)
def test_headers_from_anyone_else_are_ignored(
    client_with: ClientFactory, sources: Sources, peer: tuple[str, int], trusted: list[str]
) -> None:
    add_user(sources, "u1", "13800138000")
    client = behind_proxy(client_with, peer=peer, trusted_proxies=trusted)
    response = client.get(ME, headers=PROXY_HEADERS)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert record(client, PROXY_HEADERS).status_code == 401
    assert client_addrs(sources) == []


def test_a_whole_network_can_be_trusted(client_with: ClientFactory) -> None:
    client = behind_proxy(client_with, peer=("10.0.1.7", 4000), trusted_proxies=["10.0.1.0/24"])
    assert client.get(ME, headers=PROXY_HEADERS).status_code == 200


def test_ipv6_proxy(client_with: ClientFactory) -> None:
    client = behind_proxy(client_with, peer=("::1", 4000), trusted_proxies=["::1/128"])
    assert client.get(ME, headers=PROXY_HEADERS).json()["data"]["via"] == "proxy"


def test_only_the_user_id_is_required(client_with: ClientFactory) -> None:
    client = behind_proxy(client_with)
    data = client.get(ME, headers={"X-InfoTrack-User-Id": "crm-1"}).json()["data"]
    assert data["operatorId"] == "proxy:crm-1"
    assert data["company"] is None
    assert data["side"] is None


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({**PROXY_HEADERS, "X-InfoTrack-User-Id": ""}, "invalid_identity"),
        ({**PROXY_HEADERS, "X-InfoTrack-User-Id": "   "}, "invalid_identity"),
        ({**PROXY_HEADERS, "X-InfoTrack-Name": quote("王" * 101)}, "invalid_identity"),
        ({**PROXY_HEADERS, "X-InfoTrack-Company": quote("公" * 256)}, "invalid_identity"),
        ({**PROXY_HEADERS, "X-InfoTrack-Side": "both"}, "invalid_identity"),
        # A proxy that cuts a UTF-8 sequence in half: refused, never a 500.
        ({**PROXY_HEADERS, "X-InfoTrack-Name": "%E7%8E"}, "invalid_identity"),
    ],
    ids=["empty-id", "blank-id", "long-name", "long-company", "bad-side", "broken-utf8"],
)
def test_unusable_proxy_identities_are_401(
    client_with: ClientFactory, headers: dict[str, str], code: str
) -> None:
    client = behind_proxy(client_with)
    response = client.get(ME, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code


def test_a_custom_header_prefix(client_with: ClientFactory) -> None:
    client = behind_proxy(client_with, proxy_header_prefix="X-CRM-")
    assert client.get(ME, headers=PROXY_HEADERS).status_code == 401
    headers = {"X-CRM-User-Id": "crm-5", "X-CRM-Name": quote("李雷")}
    data = client.get(ME, headers=headers).json()["data"]
    assert (data["operatorId"], data["name"]) == ("proxy:crm-5", "李雷")


def test_a_bearer_token_wins_over_proxy_headers(
    client_with: ClientFactory, sources: Sources, settings: Settings
) -> None:
    account_id = create_account(sources, settings)
    client = behind_proxy(client_with)
    data = client.get(ME, headers={**bearer(client), **PROXY_HEADERS}).json()["data"]
    assert data["operatorId"] == f"account:{account_id}"


# -- the recorded client address ------------------------------------------------------------------


def test_forwarded_for_from_a_trusted_proxy_sets_the_client_address(
    client_with: ClientFactory, sources: Sources
) -> None:
    add_user(sources, "u1", "13800138000")
    client = behind_proxy(client_with, trusted_proxies=["127.0.0.1/32", "10.0.0.0/8"])
    # The client may write anything in front; the last untrusted hop is the one a proxy saw.
    forwarded = [
        "203.0.113.9",
        "198.51.100.1, 203.0.113.9",
        "198.51.100.1, 203.0.113.9, 10.1.2.3",
    ]
    for value in forwarded:
        assert record(client, {**PROXY_HEADERS, "X-Forwarded-For": value}).status_code == 200
    assert record(client, PROXY_HEADERS).status_code == 200  # no header: the proxy itself
    assert client_addrs(sources) == ["203.0.113.9", "203.0.113.9", "203.0.113.9", "127.0.0.1"]


def test_forwarded_for_from_anyone_else_is_ignored(
    client_with: ClientFactory, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    add_user(sources, "u1", "13800138000")
    client = behind_proxy(client_with, peer=OUTSIDER)
    headers = {**bearer(client), "X-Forwarded-For": "203.0.113.9"}
    assert record(client, headers).status_code == 200
    assert client_addrs(sources) == ["192.0.2.10"]


def test_forwarded_for_with_a_bearer_token_behind_the_proxy(
    client_with: ClientFactory, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    add_user(sources, "u1", "13800138000")
    client = behind_proxy(client_with)
    headers = {**bearer(client), "X-Forwarded-For": "2001:db8::1"}
    assert record(client, headers).status_code == 200
    assert client_addrs(sources) == ["2001:db8::1"]


# -- a real server process: the settings come from the environment ------------------------------


@pytest.fixture
def served_behind_proxy(settings: Settings, sources: Sources) -> Iterator[str]:
    """``infotrack serve`` with INFOTRACK_TRUSTED_PROXIES=127.0.0.1; its base URL."""
    with run_server(
        settings, workers=1, extra_env={"INFOTRACK_TRUSTED_PROXIES": "127.0.0.1"}
    ) as base:
        yield base


@pytest.mark.slow
def test_real_server_trusts_the_configured_proxy(
    served_behind_proxy: str, sources: Sources
) -> None:
    add_user(sources, "u1", "13800138000")
    with httpx.Client(base_url=served_behind_proxy, timeout=10) as http:
        me = http.get(ME, headers=PROXY_HEADERS)
        assert me.status_code == 200, me.text
        assert me.json()["data"]["name"] == "王芳"
        response = http.post(
            RECORD,
            json={"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
            headers={**PROXY_HEADERS, "X-Forwarded-For": "198.51.100.23"},
        )
        assert response.status_code == 200, response.text
    assert client_addrs(sources) == ["198.51.100.23"]
