"""``/api/auth/me`` and the identity behind every record: accounts, our tokens, CRM JWTs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from infotrack.config import Settings
from infotrack.db import Sources
from tests.auth.conftest import ClientFactory
from tests.conftest import SECRET, add_user, bearer, create_account, run_cli

ME = "/api/auth/me"
RECORD = "/api/information-tracking/record"
CRM_SECRET = "crm-shared-secret-for-tests-0123456789abcdef"
CRM_CLAIMS = {
    "operator_id": "uid",
    "company": "corp",
    "department": "dept",
    "organization": "org",
    "role": "position",
    "name": "realName",
    "assistant": "helper",
    "side": "realm",
}
CRM_PAYLOAD: dict[str, Any] = {
    "uid": "u-1001",
    "corp": "深圳市前海云创科技有限公司",
    "dept": "大客户部",
    "org": "华南区",
    "position": "经理",
    "realName": "欧阳娜娜",
    "helper": "陈晨",
    "realm": "sales",
}


IDENTITY_KEYS = (
    "operatorId",
    "username",
    "company",
    "department",
    "organization",
    "role",
    "name",
    "assistant",
    "side",
    "via",
)


def identity_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The identity part of ``/me``'s data (other issues add more, such as the read scope)."""
    return {key: data.get(key, "<absent>") for key in IDENTITY_KEYS}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def crm_token(
    payload: dict[str, Any] | None = None,
    key: str | bytes = CRM_SECRET,
    algorithm: str = "HS256",
    exp_in: int | None = 600,
) -> str:
    claims = dict(CRM_PAYLOAD if payload is None else payload)
    if exp_in is not None:
        claims["exp"] = int(time.time()) + exp_in
    return jwt.encode(claims, key, algorithm=algorithm)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made_token(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A JWT built by hand, for tokens PyJWT refuses to make (alg none, key confusion)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = (
        b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{b64url(signature)}"


def record_row(sources: Sources) -> dict[str, Any]:
    with sources.wechat.connect() as conn:
        row = conn.execute(
            text(
                "SELECT tracompany, tradepartment, traorganization, trarole, trauserName,"
                " traassistant, operator_id, side, userId FROM informationtra"
            )
        ).one()
    return dict(row._mapping)


# -- built-in accounts ------------------------------------------------------------------------


def test_me_via_bearer_shows_the_account(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    account_id = create_account(sources, settings)
    response = client.get(ME, headers=bearer(client))
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    assert identity_fields(response.json()["data"]) == {
        "operatorId": f"account:{account_id}",
        "username": "zhangwei",
        "company": "华东贸易有限公司",
        "department": "销售一部",
        "organization": "华东大区",
        "role": "业务员",
        "name": "张伟",
        "assistant": "李娜",
        "side": "supply",
        "via": "account",
    }


def test_me_for_a_sales_account_without_optional_fields(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    account_id = create_account(
        sources,
        settings,
        username="wangfang",
        company="西部物流",
        department=None,
        organization=None,
        role="经理",
        name="王芳",
        assistant=None,
        side="sales",
    )
    data = client.get(ME, headers=bearer(client, "wangfang")).json()["data"]
    assert data["operatorId"] == f"account:{account_id}"
    assert (data["side"], data["role"], data["department"], data["assistant"]) == (
        "sales",
        "经理",
        None,
        None,
    )


def test_no_credentials_is_401(client: TestClient) -> None:
    response = client.get(ME)
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "message": "用户未登录或认证信息缺失",
        "code": "unauthorized",
    }
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["Basic emhhbmd3ZWk6cGFzcw==", "Bearer", "Bearer    ", "Token abc", "Bearer not-a-jwt"],
)
def test_malformed_authorization_is_401(client: TestClient, header: str) -> None:
    response = client.get(ME, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_token_of_an_account_disabled_afterwards_stops_working(
    client_with: ClientFactory, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    client = client_with(account_cache_ttl=0)
    headers = bearer(client)
    assert client.get(ME, headers=headers).status_code == 200

    assert run_cli(settings, "account", "disable", "zhangwei").returncode == 0
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"

    # Enabling again does not revive tokens issued before the account was disabled.
    assert run_cli(settings, "account", "enable", "zhangwei").returncode == 0
    assert client.get(ME, headers=headers).status_code == 401
    assert client.get(ME, headers=bearer(client)).status_code == 200


def test_a_disabled_account_cannot_record(
    client_with: ClientFactory, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    add_user(sources, "u1", "13800138000")
    client = client_with(account_cache_ttl=0)
    headers = bearer(client)
    assert run_cli(settings, "account", "disable", "zhangwei").returncode == 0
    response = client.post(
        RECORD,
        json={"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
        headers=headers,
    )
    assert response.status_code == 401
    with sources.wechat.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM informationtra")).scalar_one() == 0


def _own_token(claims: dict[str, Any], key: str = SECRET) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


@pytest.mark.parametrize(
    ("make_claims", "key", "code"),
    [
        (
            lambda i, now: {"iss": "infotrack", "sub": i, "ver": 1, "exp": now - 60},
            SECRET,
            "invalid_token",
        ),
        (
            lambda i, now: {"iss": "infotrack", "sub": i, "ver": 1, "exp": now + 600},
            "another-secret-key-0123456789-abcdefgh",
            "invalid_token",
        ),
        (lambda i, now: {"iss": "infotrack", "sub": i, "ver": 1}, SECRET, "invalid_token"),
        (
            lambda i, now: {"iss": "infotrack", "sub": "abc", "ver": 1, "exp": now + 600},
            SECRET,
            "invalid_token",
        ),
        (
            lambda i, now: {"iss": "infotrack", "sub": i, "ver": 0, "exp": now + 600},
            SECRET,
            "session_revoked",
        ),
        (
            lambda i, now: {"iss": "infotrack", "sub": "9999", "ver": 1, "exp": now + 600},
            SECRET,
            "session_revoked",
        ),
        (
            lambda i, now: {"iss": "someone-else", "sub": i, "ver": 1, "exp": now + 600},
            SECRET,
            "invalid_token",
        ),
    ],
    ids=[
        "expired",
        "wrong-key",
        "no-exp",
        "bad-sub",
        "old-version",
        "no-such-account",
        "wrong-issuer",
    ],
)
def test_bad_own_tokens_are_401(
    client: TestClient, sources: Sources, settings: Settings, make_claims: Any, key: str, code: str
) -> None:
    account_id = create_account(sources, settings)
    token = _own_token(make_claims(str(account_id), int(time.time())), key)
    response = client.get(ME, headers=auth(token))
    assert response.status_code == 401
    assert response.json()["code"] == code


def test_a_hand_made_valid_token_works(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    # The counterpart of the table above: only the claims differ, so the checks are real.
    account_id = create_account(sources, settings)
    token = _own_token(
        {"iss": "infotrack", "sub": str(account_id), "ver": 1, "exp": int(time.time()) + 600}
    )
    assert client.get(ME, headers=auth(token)).status_code == 200


# -- CRM-issued JWT, HS256 ----------------------------------------------------------------------


def crm_client(client_with: ClientFactory, **overrides: Any) -> TestClient:
    return client_with(jwt_secret=CRM_SECRET, jwt_claims=CRM_CLAIMS, **overrides)


def test_crm_jwt_with_custom_claim_names(client_with: ClientFactory) -> None:
    client = crm_client(client_with)
    response = client.get(ME, headers=auth(crm_token()))
    assert response.status_code == 200, response.text
    assert identity_fields(response.json()["data"]) == {
        "operatorId": "jwt:u-1001",
        "username": None,
        "company": "深圳市前海云创科技有限公司",
        "department": "大客户部",
        "organization": "华南区",
        "role": "经理",
        "name": "欧阳娜娜",
        "assistant": "陈晨",
        "side": "sales",
        "via": "jwt",
    }


def test_crm_identity_is_stamped_on_the_record(
    client_with: ClientFactory, sources: Sources
) -> None:
    add_user(sources, "u-88", "13800138000")
    client = crm_client(client_with)
    response = client.post(
        RECORD + "?isSupplySide=false",
        # Identity in the body is ignored: it comes from the verified token only.
        json={
            "phoneNumber": "13800138000",
            "operationEvent": "更新客户跟进",
            "company": "冒充公司",
            "trauserName": "冒充者",
        },
        headers=auth(crm_token()),
    )
    assert response.status_code == 200, response.text
    assert record_row(sources) == {
        "tracompany": "深圳市前海云创科技有限公司",
        "tradepartment": "大客户部",
        "traorganization": "华南区",
        "trarole": "经理",
        "trauserName": "欧阳娜娜",
        "traassistant": "陈晨",
        "operator_id": "jwt:u-1001",
        "side": "sales",
        "userId": "u-88",
    }


def test_crm_side_must_match_the_realm(client_with: ClientFactory, sources: Sources) -> None:
    add_user(sources, "u-88", "13800138000")
    client = crm_client(client_with)
    response = client.post(
        RECORD + "?isSupplySide=true",
        json={"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
        headers=auth(crm_token()),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "side_mismatch"


def test_crm_numeric_operator_id_and_missing_fields(client_with: ClientFactory) -> None:
    client = crm_client(client_with)
    data = client.get(ME, headers=auth(crm_token({"uid": 1001, "realName": "李雷"}))).json()["data"]
    assert data["operatorId"] == "jwt:1001"
    assert data["name"] == "李雷"
    assert data["company"] is None
    assert data["side"] is None


def test_default_claim_names(client_with: ClientFactory) -> None:
    client = client_with(jwt_secret=CRM_SECRET)
    token = crm_token({"sub": "crm-7", "company": "华东贸易", "name": "张伟", "side": "supply"})
    data = client.get(ME, headers=auth(token)).json()["data"]
    assert (data["operatorId"], data["company"], data["name"], data["side"]) == (
        "jwt:crm-7",
        "华东贸易",
        "张伟",
        "supply",
    )


def test_crm_fields_at_their_limits_are_recorded(
    client_with: ClientFactory, sources: Sources
) -> None:
    add_user(sources, "u-88", "13800138000")
    client = crm_client(client_with)
    payload = {
        **CRM_PAYLOAD,
        "uid": "u" * 120,
        "corp": "公" * 255,
        "realName": "王" * 100,
        "helper": "助" * 100,
    }
    response = client.post(
        RECORD + "?isSupplySide=false",
        json={"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
        headers=auth(crm_token(payload)),
    )
    assert response.status_code == 200, response.text
    row = record_row(sources)
    assert row["trauserName"] == "王" * 100
    assert row["tracompany"] == "公" * 255
    assert row["operator_id"] == "jwt:" + "u" * 120


def _over(field: str, length: int) -> dict[str, Any]:
    return {**CRM_PAYLOAD, field: "长" * length}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({k: v for k, v in CRM_PAYLOAD.items() if k != "uid"}, "invalid_identity"),
        ({**CRM_PAYLOAD, "uid": ""}, "invalid_identity"),
        ({**CRM_PAYLOAD, "uid": "   "}, "invalid_identity"),
        (_over("uid", 121), "invalid_identity"),
        (_over("corp", 256), "invalid_identity"),
        (_over("dept", 256), "invalid_identity"),
        (_over("org", 256), "invalid_identity"),
        (_over("position", 256), "invalid_identity"),
        (_over("realName", 101), "invalid_identity"),
        (_over("helper", 101), "invalid_identity"),
        ({**CRM_PAYLOAD, "realm": "both"}, "invalid_identity"),
    ],
    ids=[
        "no-operator",
        "empty-operator",
        "blank-operator",
        "long-operator",
        "long-company",
        "long-department",
        "long-organization",
        "long-role",
        "long-name",
        "long-assistant",
        "unknown-side",
    ],
)
def test_unusable_crm_identities_are_401(
    client_with: ClientFactory, payload: dict[str, Any], code: str
) -> None:
    client = crm_client(client_with)
    response = client.get(ME, headers=auth(crm_token(payload)))
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response.json()["success"] is False


@pytest.mark.parametrize(
    "token",
    [
        crm_token(key="not-the-crm-secret-0123456789-abcdefghij"),
        crm_token(exp_in=-60),
        crm_token(exp_in=None),  # a CRM token must expire
        hand_made_token({"alg": "none", "typ": "JWT"}, {**CRM_PAYLOAD, "exp": 4102444800}, None),
        crm_token()[:-4] + "AAAA",
    ],
    ids=["wrong-signature", "expired", "no-exp", "alg-none", "tampered"],
)
def test_bad_crm_tokens_are_401(client_with: ClientFactory, token: str) -> None:
    client = crm_client(client_with)
    response = client.get(ME, headers=auth(token))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_issuer_and_audience_are_checked(client_with: ClientFactory) -> None:
    client = crm_client(client_with, jwt_issuer="crm.example.com", jwt_audience="infotrack")
    good = {**CRM_PAYLOAD, "iss": "crm.example.com", "aud": "infotrack"}
    assert client.get(ME, headers=auth(crm_token(good))).status_code == 200
    for bad in (
        {**good, "iss": "evil.example.com"},
        {k: v for k, v in good.items() if k != "iss"},
        {**good, "aud": "another-service"},
        {k: v for k, v in good.items() if k != "aud"},
    ):
        response = client.get(ME, headers=auth(crm_token(bad)))
        assert response.status_code == 401, bad
        assert response.json()["code"] == "invalid_token"


def test_crm_tokens_refused_when_not_configured(client: TestClient) -> None:
    response = client.get(ME, headers=auth(crm_token()))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_own_tokens_still_work_beside_crm_tokens(
    client_with: ClientFactory, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    client = crm_client(client_with)
    assert client.get(ME, headers=bearer(client)).json()["data"]["via"] == "account"
    assert client.get(ME, headers=auth(crm_token())).json()["data"]["via"] == "jwt"


def test_a_crm_token_cannot_pass_as_ours(client_with: ClientFactory) -> None:
    # Signed with the CRM secret but claiming our issuer: checked against our key, refused.
    client = crm_client(client_with)
    token = crm_token({**CRM_PAYLOAD, "iss": "infotrack", "sub": "1", "ver": 1})
    assert client.get(ME, headers=auth(token)).status_code == 401


# -- CRM-issued JWT, RS256 ----------------------------------------------------------------------


def test_rs256_with_a_pem_public_key(
    client_with: ClientFactory, rsa_keys: tuple[bytes, bytes, bytes]
) -> None:
    private, public, other = rsa_keys
    client = crm_client(client_with, jwt_algorithm="RS256", jwt_public_key=public.decode())
    good = client.get(ME, headers=auth(crm_token(key=private, algorithm="RS256")))
    assert good.status_code == 200, good.text
    assert good.json()["data"]["operatorId"] == "jwt:u-1001"
    assert good.json()["data"]["name"] == "欧阳娜娜"

    forged = client.get(ME, headers=auth(crm_token(key=other, algorithm="RS256")))
    assert forged.status_code == 401
    assert forged.json()["code"] == "invalid_token"


def test_rs256_with_a_public_key_file(
    client_with: ClientFactory, rsa_keys: tuple[bytes, bytes, bytes], tmp_path: Path
) -> None:
    private, public, _ = rsa_keys
    key_file = tmp_path / "crm_public.pem"
    key_file.write_bytes(public)
    client = crm_client(client_with, jwt_algorithm="RS256", jwt_public_key=str(key_file))
    response = client.get(ME, headers=auth(crm_token(key=private, algorithm="RS256")))
    assert response.status_code == 200, response.text


def test_rs256_refuses_hs256_tokens(
    client_with: ClientFactory, rsa_keys: tuple[bytes, bytes, bytes]
) -> None:
    _, public, _ = rsa_keys
    client = crm_client(client_with, jwt_algorithm="RS256", jwt_public_key=public.decode())
    payload = {**CRM_PAYLOAD, "exp": int(time.time()) + 600}
    for key in (public, CRM_SECRET.encode()):
        # The classic key-confusion attack: HMAC-sign with the public key as the secret.
        token = hand_made_token({"alg": "HS256", "typ": "JWT"}, payload, key)
        response = client.get(ME, headers=auth(token))
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_token"


def test_a_short_crm_secret_is_said_once_at_start_not_per_request(
    client_with: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    short = "short-crm-secret"  # 16 bytes: PyJWT would warn on every decode
    with caplog.at_level(logging.WARNING, logger="infotrack.auth.tokens"):
        client = client_with(jwt_secret=short, jwt_claims=CRM_CLAIMS)
    said = [r for r in caplog.records if "INFOTRACK_JWT_SECRET is shorter" in r.message]
    assert len(said) == 1
    token = crm_token(key=short)
    for _ in range(3):  # pytest turns any warning into an error here
        assert client.get(ME, headers=auth(token)).status_code == 200
