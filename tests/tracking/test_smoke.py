from fastapi.testclient import TestClient

from infotrack.config import Settings
from infotrack.db import Sources
from tests.conftest import add_contact, add_user, bearer, count_records, create_account


def test_record_roundtrip(client: TestClient, sources: Sources, settings: Settings) -> None:
    create_account(sources, settings)
    add_user(sources, "u1", "13800138000", "王小明")
    cid = add_contact(sources, "+8613900139000", "李雷")
    headers = bearer(client)
    r = client.post("/api/information-tracking/record", json={"phoneNumber": "8613800138000", "operationEvent": "查看客户详情"}, headers=headers)
    assert r.json()["data"]["userId"] == "u1"
    r = client.post("/api/information-tracking/record", json={"phoneNumber": "139 0013 9000", "operationEvent": "查看客户详情"}, headers=headers)
    assert r.json()["data"] == {"id": 2, "userId": cid, "source": "primary"}
    assert count_records(sources) == 2
