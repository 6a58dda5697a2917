"""Channels: real POSTs to a local receiver, signatures recomputed from the vendors' rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from infotrack.alerts.channels import (
    TRUNCATION_NOTE,
    WECOM_MARKDOWN_LIMIT,
    SendResult,
    prepare,
    send,
    verify_webhook_signature,
)
from infotrack.alerts.messages import Message, render_alert, render_digest
from infotrack.alerts.types import AlertNotice, Channel, ChannelKind, DigestNotice, Operator
from tests.alerts.receiver import Receiver, Reply, refused_url

NOW = 1_764_267_120.375  # 2025-11-28 02:12:00.375 UTC
WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DINGTALK_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
FEISHU_TOKEN = "2b4c6d8e-0f1a-4b3c-9d5e-7f9a1b3c5d7e"
SECRET = "SECa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as http:
        yield http


def alert(severity: str = "high", **operator: Any) -> Message:
    """A rendered alert by 张三 of 销售一部."""
    fields = {
        "key": "u1001",
        "operator_id": "u1001",
        "name": "张三",
        "company": "华东贸易有限公司",
        "department": "销售一部",
        "role": "销售",
    } | operator
    return render_alert(
        AlertNotice(
            alert_id=42,
            rule="bulk-view",
            kind="burst",
            severity=severity,  # type: ignore[arg-type]
            operator=Operator(**fields),
            window_start=datetime(2026, 11, 28, 3, 0),
            window_end=datetime(2026, 11, 28, 3, 12),
            count=37,
            threshold=30,
            sample_ids=(101, 102, 103),
            zone="Asia/Shanghai",
            console_url="https://infotrack.example.com/console/alerts/42",
        )
    )


def digest() -> Message:
    """A rendered daily digest of 销售一部."""
    return render_digest(
        DigestNotice(
            period="daily",
            company="华东贸易有限公司",
            department="销售一部",
            start=datetime(2026, 11, 27),
            end=datetime(2026, 11, 28),
            total_events=120,
            by_type=(("view_detail", 100), ("edit", 20)),
            top_operators=(("张三", 70), ("李四", 50)),
            open_alerts=(("bulk-view", "high", 1),),
            zone="Asia/Shanghai",
        )
    )


def channel(
    kind: ChannelKind, url: str, secret: str | None = None, timeout: float = 5.0
) -> Channel:
    """A channel named after its kind."""
    return Channel(name=kind, kind=kind, url=url, secret=secret, timeout=timeout)


def b64_hmac_sha256(key: bytes, msg: bytes) -> str:
    """base64(HmacSHA256), as both DingTalk's and Feishu's documentation write it."""
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


# --- WeCom ----------------------------------------------------------------------------------


def test_wecom_posts_markdown_with_the_key_in_the_url(
    receiver: Receiver, client: httpx.Client
) -> None:
    message = alert()
    wecom = channel("wecom", receiver.url(f"/cgi-bin/webhook/send?key={WECOM_KEY}"))

    result = send(client, wecom, message, now=NOW)

    assert result == SendResult(True, 200, None, False, result.elapsed_ms)
    (request,) = receiver.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": WECOM_KEY}
    assert request.header("content-type") == "application/json; charset=utf-8"
    assert request.json() == {"msgtype": "markdown", "markdown": {"content": message.markdown}}
    assert "【高】告警：bulk-view" in request.json()["markdown"]["content"]


def test_wecom_cuts_long_markdown_to_4096_bytes_on_a_character_boundary(
    receiver: Receiver, client: httpx.Client
) -> None:
    # One ASCII byte then three-byte characters: no byte limit falls on a boundary by luck.
    markdown = "**标题**\nx" + "销" * 3000
    message = Message("alert", "标题", markdown, markdown, {})

    assert send(client, channel("wecom", receiver.url("/send?key=k")), message, now=NOW).ok

    content = receiver.wait_for(1)[0].json()["markdown"]["content"]
    assert len(content.encode()) <= WECOM_MARKDOWN_LIMIT
    assert len(content.encode()) > WECOM_MARKDOWN_LIMIT - 3 - len(TRUNCATION_NOTE.encode())
    assert content.endswith(TRUNCATION_NOTE)
    assert markdown.startswith(content.removesuffix(TRUNCATION_NOTE))


def test_wecom_prefers_cutting_at_a_line_end(receiver: Receiver, client: httpx.Client) -> None:
    lines = [f"第 {i} 行：**{'客户' * 20}**" for i in range(100)]
    markdown = "\n".join(lines)
    message = Message("alert", "标题", markdown, markdown, {})

    assert send(client, channel("wecom", receiver.url("/send?key=k")), message, now=NOW).ok

    content = receiver.wait_for(1)[0].json()["markdown"]["content"]
    kept = content.removesuffix(TRUNCATION_NOTE).split("\n")
    assert kept == lines[: len(kept)]  # whole lines only: no bold left open
    assert len(content.encode()) <= WECOM_MARKDOWN_LIMIT


def test_wecom_leaves_markdown_of_exactly_4096_bytes_alone(
    receiver: Receiver, client: httpx.Client
) -> None:
    markdown = "a" + "销" * ((WECOM_MARKDOWN_LIMIT - 1) // 3)
    assert len(markdown.encode()) == WECOM_MARKDOWN_LIMIT
    message = Message("alert", "标题", markdown, markdown, {})

    assert send(client, channel("wecom", receiver.url("/send?key=k")), message, now=NOW).ok

    assert receiver.wait_for(1)[0].json()["markdown"]["content"] == markdown


# --- DingTalk -------------------------------------------------------------------------------


def test_dingtalk_signs_the_url_as_dingtalk_documents(
    receiver: Receiver, client: httpx.Client
) -> None:
    message = alert()
    url = receiver.url(f"/robot/send?access_token={DINGTALK_TOKEN}")

    assert send(client, channel("dingtalk", url, SECRET), message, now=NOW).ok

    (request,) = receiver.wait_for(1)
    timestamp = "1764267120375"  # milliseconds
    sign = b64_hmac_sha256(SECRET.encode(), f"{timestamp}\n{SECRET}".encode())
    assert request.query == {"access_token": DINGTALK_TOKEN, "timestamp": timestamp, "sign": sign}
    # The sign is URL-encoded (its "+", "/" and "=" would otherwise change meaning).
    assert f"&sign={quote_plus(sign)}" in request.raw_query
    body = request.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "【高】告警：bulk-view"
    assert body["markdown"]["text"] == message.markdown.replace("\n", "  \n")


def test_dingtalk_without_a_secret_is_not_signed(receiver: Receiver, client: httpx.Client) -> None:
    url = receiver.url(f"/robot/send?access_token={DINGTALK_TOKEN}")

    assert send(client, channel("dingtalk", url), digest(), now=NOW).ok

    (request,) = receiver.wait_for(1)
    assert request.query == {"access_token": DINGTALK_TOKEN}
    assert request.json()["markdown"]["title"] == "日报 · 销售一部 · 2026-11-27"


# --- Feishu ---------------------------------------------------------------------------------


def test_feishu_signs_the_body_as_feishu_documents(
    receiver: Receiver, client: httpx.Client
) -> None:
    message = alert()
    url = receiver.url(f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}")

    assert send(client, channel("feishu", url, SECRET), message, now=NOW).ok

    (request,) = receiver.wait_for(1)
    body = request.json()
    assert body["timestamp"] == "1764267120"  # seconds
    assert body["sign"] == b64_hmac_sha256(f"1764267120\n{SECRET}".encode(), b"")
    assert body["msg_type"] == "interactive"
    header = body["card"]["header"]
    assert header["title"] == {"tag": "plain_text", "content": "【高】告警：bulk-view"}
    assert header["template"] == "red"
    (element,) = body["card"]["elements"]
    assert element["tag"] == "markdown"
    assert element["content"].startswith("规则：bulk-view\n")  # the header carries the title
    assert "[在控制台查看](https://infotrack.example.com/console/alerts/42)" in element["content"]


@pytest.mark.parametrize(
    ("message", "template"),
    [
        pytest.param(alert("high"), "red", id="high"),
        pytest.param(alert("medium"), "orange", id="medium"),
        pytest.param(alert("low"), "blue", id="low"),
        pytest.param(digest(), "blue", id="digest"),
    ],
)
def test_feishu_colours_the_card_by_severity(
    receiver: Receiver, client: httpx.Client, message: Message, template: str
) -> None:
    url = receiver.url(f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}")

    assert send(client, channel("feishu", url), message, now=NOW).ok

    body = receiver.wait_for(1)[0].json()
    assert "sign" not in body
    assert "timestamp" not in body
    assert body["card"]["header"]["template"] == template


# --- generic webhook ------------------------------------------------------------------------


def test_webhook_posts_signed_json(receiver: Receiver, client: httpx.Client) -> None:
    message = alert()

    result = send(
        client, channel("webhook", receiver.url("/hooks/infotrack"), SECRET), message, now=NOW
    )

    assert result.ok
    (request,) = receiver.wait_for(1)
    assert request.header("content-type") == "application/json; charset=utf-8"
    assert request.header("x-infotrack-event") == "alert"
    assert request.header("x-infotrack-delivery") is None
    timestamp = request.header("x-infotrack-timestamp")
    assert timestamp == "1764267120"
    expected = hmac.new(SECRET.encode(), b"1764267120." + request.body, hashlib.sha256)
    assert request.header("x-infotrack-signature") == "sha256=" + expected.hexdigest()
    body = request.json()
    assert body == {"type": "alert", **message.data}
    assert body["alertId"] == 42
    assert body["operator"]["name"] == "张三"
    assert body["windowStart"] == "2026-11-28T03:00:00+08:00"


def test_webhook_digest_carries_its_delivery_id_and_no_signature_without_secret(
    receiver: Receiver, client: httpx.Client
) -> None:
    message = digest()

    assert send(client, channel("webhook", receiver.url("/d")), message, now=NOW, delivery_id=7).ok

    (request,) = receiver.wait_for(1)
    assert request.header("x-infotrack-event") == "digest"
    assert request.header("x-infotrack-delivery") == "7"
    assert request.header("x-infotrack-signature") is None
    body = request.json()
    assert body["type"] == "digest"
    assert body["totalEvents"] == 120
    assert body["byType"][0] == {"eventType": "view_detail", "label": "查看客户详情", "count": 100}


def test_webhook_signature_verifies_only_the_exact_delivery(
    receiver: Receiver, client: httpx.Client
) -> None:
    assert send(client, channel("webhook", receiver.url("/h"), SECRET), alert(), now=NOW).ok
    (request,) = receiver.wait_for(1)
    timestamp = request.header("x-infotrack-timestamp") or ""
    signature = request.header("x-infotrack-signature") or ""
    body = request.body

    assert verify_webhook_signature(SECRET, timestamp, body, signature, now=NOW)
    assert verify_webhook_signature(SECRET, timestamp, body, signature, now=int(NOW) + 300)
    assert not verify_webhook_signature(SECRET, timestamp, body + b" ", signature, now=NOW)
    assert not verify_webhook_signature(
        SECRET, timestamp, body.replace(b"42", b"43", 1), signature, now=NOW
    )
    assert not verify_webhook_signature(SECRET, "1764267121", body, signature, now=NOW)
    assert not verify_webhook_signature(SECRET + "x", timestamp, body, signature, now=NOW)
    assert not verify_webhook_signature(SECRET, timestamp, body, signature, now=NOW + 301)
    assert not verify_webhook_signature(SECRET, timestamp, body, signature, now=NOW - 301)
    assert not verify_webhook_signature(SECRET, "yesterday", body, signature, now=NOW)
    assert not verify_webhook_signature(SECRET, timestamp, body, "sha256=签名", now=NOW)
    assert not verify_webhook_signature(SECRET, timestamp, body, signature[7:], now=NOW)


# --- outcomes -------------------------------------------------------------------------------

TARGETS: dict[str, str] = {
    "wecom": f"/cgi-bin/webhook/send?key={WECOM_KEY}",
    "dingtalk": f"/robot/send?access_token={DINGTALK_TOKEN}",
    "feishu": f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
    "webhook": "/hooks/infotrack",
}


KEYS: dict[str, str] = {
    "wecom": WECOM_KEY,
    "dingtalk": DINGTALK_TOKEN,
    "feishu": FEISHU_TOKEN,
    "webhook": "infotrack",
}


@pytest.mark.parametrize(
    ("kind", "status", "reply", "retryable", "in_error"),
    [
        pytest.param("webhook", 500, None, True, "HTTP 500", id="webhook-500"),
        pytest.param("webhook", 503, None, True, "HTTP 503", id="webhook-503"),
        pytest.param("webhook", 429, None, True, "HTTP 429", id="webhook-429"),
        pytest.param("webhook", 400, None, False, "HTTP 400", id="webhook-400"),
        pytest.param("webhook", 404, None, False, "HTTP 404", id="webhook-404"),
        pytest.param("wecom", 500, None, True, "HTTP 500", id="wecom-500"),
        pytest.param(
            "wecom",
            200,
            {"errcode": 45009, "errmsg": "api freq out of limit"},
            True,
            "企业微信错误码 45009：api freq out of limit",
            id="wecom-45009",
        ),
        pytest.param(
            "wecom",
            200,
            {"errcode": 93000, "errmsg": "invalid webhook url"},
            False,
            "企业微信错误码 93000：invalid webhook url",
            id="wecom-93000",
        ),
        pytest.param(
            "dingtalk",
            200,
            {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"},
            True,
            "钉钉错误码 130101",
            id="dingtalk-130101",
        ),
        pytest.param(
            "dingtalk",
            200,
            {"errcode": 310000, "errmsg": "sign not match"},
            False,
            "钉钉错误码 310000：sign not match",
            id="dingtalk-310000",
        ),
        pytest.param(
            "feishu",
            200,
            {"code": 11232, "msg": "frequency limited", "data": {}},
            True,
            "飞书错误码 11232",
            id="feishu-11232",
        ),
        pytest.param(
            "feishu",
            200,
            {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"},
            False,
            "飞书错误码 19021",
            id="feishu-19021",
        ),
        pytest.param(
            "feishu", 200, {"code": 9499, "msg": "Bad Request"}, False, "9499", id="feishu-9499"
        ),
        pytest.param(
            "feishu",
            200,
            {"StatusCode": 19024, "StatusMessage": "Key Words Not Found"},
            False,
            "飞书错误码 19024",
            id="feishu-legacy-statuscode",
        ),
        pytest.param(
            "feishu",
            400,
            {"code": 99991400, "msg": "request trigger frequency limit"},
            True,
            "HTTP 400",
            id="feishu-400-rate-limit",
        ),
    ],
)
def test_failures_are_classified(
    receiver: Receiver,
    client: httpx.Client,
    kind: ChannelKind,
    status: int,
    reply: dict[str, Any] | None,
    retryable: bool,
    in_error: str,
) -> None:
    receiver.fail_next(1, status=status, json=reply)

    result = send(client, channel(kind, receiver.url(TARGETS[kind]), SECRET), alert(), now=NOW)

    assert receiver.wait_for(1)
    assert not result.ok
    assert result.status_code == status
    assert result.retryable is retryable
    assert result.error is not None
    assert in_error in result.error


def test_a_vendor_answer_that_is_not_json_is_a_failure(
    receiver: Receiver, client: httpx.Client
) -> None:
    receiver.queue(Reply(200, body=b"<html>portal login</html>"))

    result = send(client, channel("wecom", receiver.url(TARGETS["wecom"])), alert(), now=NOW)

    assert not result.ok
    assert not result.retryable
    assert result.status_code == 200


def test_a_receiver_slower_than_the_timeout_is_retryable(
    receiver: Receiver, client: httpx.Client
) -> None:
    receiver.reply(delay=3.0)

    result = send(client, channel("webhook", receiver.url("/slow"), timeout=0.3), alert(), now=NOW)

    assert receiver.wait_for(1)
    assert not result.ok
    assert result.retryable
    assert result.status_code is None
    assert result.error is not None
    assert "超时" in result.error
    assert 250 <= result.elapsed_ms < 2500


def test_connection_refused_is_retryable(client: httpx.Client) -> None:
    with refused_url(TARGETS["wecom"]) as url:
        result = send(client, channel("wecom", url), alert(), now=NOW)

    assert not result.ok
    assert result.retryable
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("无法连接")
    assert WECOM_KEY not in result.error


def test_an_invalid_address_fails_without_raising(client: httpx.Client) -> None:
    result = send(client, channel("webhook", "ftp://example.com/hook"), alert(), now=NOW)

    assert result == SendResult(False, None, "渠道地址无效", False, result.elapsed_ms)


def test_a_retry_after_failures_succeeds(receiver: Receiver, client: httpx.Client) -> None:
    receiver.fail_next(2, status=502)
    hook = channel("webhook", receiver.url("/h"))

    results = [send(client, hook, alert(), now=NOW, delivery_id=9) for _ in range(3)]

    assert [(r.ok, r.retryable, r.status_code) for r in results] == [
        (False, True, 502),
        (False, True, 502),
        (True, False, 200),
    ]
    assert {r.header("x-infotrack-delivery") for r in receiver.wait_for(3)} == {"9"}


@pytest.mark.parametrize("kind", ["wecom", "dingtalk", "feishu", "webhook"])
def test_error_texts_never_carry_the_secret_or_the_key(
    receiver: Receiver, client: httpx.Client, kind: ChannelKind
) -> None:
    # A hostile (or careless) answer that echoes every credential it was sent.
    echo = f"bad request to {receiver.url(TARGETS[kind])} key={WECOM_KEY} secret={SECRET}"
    echo += f" token={DINGTALK_TOKEN} hook={FEISHU_TOKEN}"
    receiver.fail_next(1, status=400, json={"errcode": 93000, "code": 19021, "errmsg": echo})

    result = send(client, channel(kind, receiver.url(TARGETS[kind]), SECRET), alert(), now=NOW)

    assert not result.ok
    assert result.error is not None
    assert "HTTP 400" in result.error
    assert SECRET not in result.error
    assert KEYS[kind] not in result.error
    assert receiver.url(TARGETS[kind]) not in result.error


def test_the_prepared_request_is_what_goes_out(receiver: Receiver, client: httpx.Client) -> None:
    hook = channel("webhook", receiver.url("/h"), SECRET)
    prepared = prepare(hook, alert(), now=NOW, delivery_id=3)

    assert send(client, hook, alert(), now=NOW, delivery_id=3).ok

    (request,) = receiver.wait_for(1)
    assert request.body == prepared.body
    for name, value in prepared.headers.items():
        assert request.header(name) == value
    assert json.loads(prepared.body)["type"] == "alert"


# --- the receiver itself (the worker's tests rely on it too) --------------------------------


def test_receiver_answers_as_scripted(receiver: Receiver, client: httpx.Client) -> None:
    receiver.reply("/a", json={"errcode": 45009})
    receiver.fail_next(1, status=503, path="/a")
    receiver.fail_next(1, status=500)

    statuses = [
        client.post(receiver.url(path), content=b"x").status_code
        for path in ("/b", "/a", "/a", "/b")
    ]
    answer = client.post(receiver.url("/a?key=1"), content=b"{}").json()

    assert statuses == [500, 503, 200, 200]
    assert answer == {"errcode": 45009}
    recorded = receiver.wait_for(5)
    assert [r.path for r in recorded] == ["/b", "/a", "/a", "/b", "/a"]
    assert recorded[-1].query == {"key": "1"}
    assert recorded[0].received_at <= recorded[-1].received_at
    receiver.reset()
    assert receiver.requests == []
    assert client.post(receiver.url("/a"), content=b"").json()["errcode"] == 0


def test_receiver_reads_chunked_bodies(receiver: Receiver, client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"part": '
        yield '"一"}'.encode()

    assert client.post(receiver.url("/c"), content=chunks()).status_code == 200

    (request,) = receiver.wait_for(1)
    assert request.header("transfer-encoding") == "chunked"
    assert request.json() == {"part": "一"}


def test_receiver_close_cuts_a_delay_short(client: httpx.Client) -> None:
    server = Receiver()
    server.reply(delay=30)
    finished: list[float] = []

    def post() -> None:
        started = time.monotonic()
        try:
            client.post(server.url("/slow"), content=b"x", timeout=10)
        except httpx.HTTPError:
            pass
        finished.append(time.monotonic() - started)

    worker = threading.Thread(target=post)
    worker.start()
    server.wait_for(1)
    server.close()
    worker.join(timeout=10)

    assert finished
    assert finished[0] < 5
    server.close()  # a second close does nothing


def test_receiver_wait_for_fails_with_what_arrived(receiver: Receiver) -> None:
    with pytest.raises(AssertionError, match="expected 1 request"):
        receiver.wait_for(1, timeout=0.05)
