"""Helpers for the record endpoints' tests: URLs, a signed-in operator, reading rows back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.models.informationtra import informationtra
from tests.conftest import bearer, create_account

RECORD = "/api/information-tracking/record"
BATCH = "/api/information-tracking/record/batch"
ERROR_KEYS = {"success", "message", "code"}
MISSING_MESSAGE = "电话号码和操作事件不能为空"
NOT_FOUND_MESSAGE = "未找到对应的客户信息"


@pytest.fixture
def headers(client: TestClient, sources: Sources, settings: Settings) -> dict[str, str]:
    """The default supply-side account (张伟), signed in: its Authorization header."""
    create_account(sources, settings)
    return bearer(client)


def fetch_rows(sources: Sources) -> list[dict[str, Any]]:
    """Every row of informationtra, oldest first."""
    with sources.wechat.connect() as conn:
        result = conn.execute(select(informationtra).order_by(informationtra.c.id))
        return [dict(row._mapping) for row in result]


def assert_error(
    response: httpx.Response, status: int, code: str | None = None, case: object = None
) -> dict[str, Any]:
    """An error answer: the status, exactly success/message/code, and the code if given.

    ``case`` names the input in failure messages when a test loops over several.
    """
    where = f"{case!r}: " if case is not None else ""
    assert response.status_code == status, f"{where}{response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_KEYS, f"{where}{body}"
    assert body["success"] is False, f"{where}{body}"
    assert isinstance(body["message"], str), f"{where}{body}"
    assert body["message"], f"{where}{body}"
    if code is not None:
        assert body["code"] == code, f"{where}{body}"
    assert "Traceback" not in response.text
    return body
