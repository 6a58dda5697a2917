"""Delivery of a rendered :class:`~infotrack.alerts.messages.Message` to one channel.

Four kinds of channel, each with its vendor's payload and signing rules:

* ``wecom`` — 企业微信群机器人. No signing: the key is the ``key`` query parameter of the
  webhook address. Markdown content is capped at 4096 bytes of UTF-8.
* ``dingtalk`` — 钉钉自定义机器人. With a secret (加签), ``timestamp`` (ms) and
  ``sign = base64(HmacSHA256(key=secret, msg=f"{timestamp}\\n{secret}"))`` go in the query string.
* ``feishu`` — 飞书自定义机器人. With a secret, ``timestamp`` (s) and
  ``sign = base64(HmacSHA256(key=f"{timestamp}\\n{secret}", msg=b""))`` go in the JSON body.
* ``webhook`` — any HTTP endpoint: the message's ``data`` as JSON, optionally signed with
  ``X-InfoTrack-Signature`` (see :func:`verify_webhook_signature`).

The three vendors answer HTTP 200 with an error code in the JSON body (``errcode`` for WeCom
and DingTalk, ``code`` — formerly ``StatusCode`` — for Feishu; 0 means delivered).

:func:`prepare` builds the request without sending it (the clock is a parameter, so signatures
are reproducible); :func:`send` posts it and classifies the outcome as a :class:`SendResult`:
network errors, timeouts, HTTP 429 and 5xx and the vendors' rate-limit codes are retryable,
anything else that failed is not. ``send`` never raises for a failed delivery, and its error
texts never carry the channel's secret or the key in its address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx

from infotrack.alerts.messages import Message
from infotrack.alerts.types import Channel

WECOM_MARKDOWN_LIMIT = 4096  # bytes of UTF-8, per WeCom's documentation
# DingTalk documents no exact cap; Feishu refuses request bodies over 20 KB. Stay below both.
LARGE_MARKDOWN_LIMIT = 18_000
TRUNCATION_NOTE = "\n…（内容过长已截断）"
USER_AGENT = "infotrack-alerts/1"

VENDOR_NAMES: dict[str, str] = {
    "wecom": "企业微信",
    "dingtalk": "钉钉",
    "feishu": "飞书",
    "webhook": "Webhook",
}
# Vendor error codes that mean "too fast / busy, try again later"; any other non-zero code is
# a configuration or payload problem that retrying cannot fix.
RETRYABLE_CODES: dict[str, frozenset[int]] = {
    # 45009: api freq out of limit (20 messages a minute per bot); -1: 系统繁忙.
    "wecom": frozenset({45009, -1}),
    # 130101: send too fast (20 a minute per bot, then 10 minutes of throttling); -1: 系统繁忙.
    "dingtalk": frozenset({130101, -1}),
    # 11232: custom bot frequency limit; 99991400: the platform's frequency limit.
    # (9499 is "Bad Request", a malformed body: not retryable.)
    "feishu": frozenset({11232, 99991400}),
}
FEISHU_TEMPLATES: dict[str, str] = {"high": "red", "medium": "orange", "low": "blue"}
_REDACTED = "***"
_ERRMSG_CHARS = 120


@dataclass(frozen=True)
class PreparedRequest:
    """One POST, ready to send: the signed address, headers and the exact body bytes."""

    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class SendResult:
    """How one delivery attempt went."""

    ok: bool
    status_code: int | None  # None when no HTTP response came back
    error: str | None  # short, Chinese, free of secrets; None when ok
    retryable: bool
    elapsed_ms: int


def prepare(
    channel: Channel, message: Message, *, now: float, delivery_id: int | None = None
) -> PreparedRequest:
    """The request that delivers ``message`` to ``channel`` at unix time ``now`` (seconds)."""
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    if channel.kind == "wecom":
        content = truncate_utf8(message.markdown, WECOM_MARKDOWN_LIMIT)
        payload: dict[str, Any] = {"msgtype": "markdown", "markdown": {"content": content}}
        return PreparedRequest(channel.url, headers, _json_bytes(payload))

    if channel.kind == "dingtalk":
        # DingTalk's markdown needs two trailing spaces to keep a single line break.
        text = truncate_utf8(message.markdown, LARGE_MARKDOWN_LIMIT).replace("\n", "  \n")
        payload = {"msgtype": "markdown", "markdown": {"title": message.title, "text": text}}
        url = channel.url
        if channel.secret:
            timestamp = str(int(now * 1000))
            digest = hmac.new(
                channel.secret.encode(), f"{timestamp}\n{channel.secret}".encode(), hashlib.sha256
            ).digest()
            query = urlencode({"timestamp": timestamp, "sign": base64.b64encode(digest).decode()})
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        return PreparedRequest(url, headers, _json_bytes(payload))

    if channel.kind == "feishu":
        payload = {}
        if channel.secret:
            timestamp = str(int(now))
            digest = hmac.new(
                f"{timestamp}\n{channel.secret}".encode(), b"", hashlib.sha256
            ).digest()
            payload |= {"timestamp": timestamp, "sign": base64.b64encode(digest).decode()}
        severity = message.data.get("severity") if message.kind == "alert" else None
        payload |= {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {
                    "template": FEISHU_TEMPLATES.get(str(severity), "blue"),
                    "title": {"tag": "plain_text", "content": message.title},
                },
                "elements": [
                    {
                        "tag": "markdown",
                        # The card's header shows the title; the body need not repeat it.
                        "content": truncate_utf8(_without_title(message), LARGE_MARKDOWN_LIMIT),
                    }
                ],
            },
        }
        return PreparedRequest(channel.url, headers, _json_bytes(payload))

    body = _json_bytes({"type": message.kind, **message.data})
    timestamp = str(int(now))
    headers |= {"X-InfoTrack-Event": message.kind, "X-InfoTrack-Timestamp": timestamp}
    if delivery_id is not None:
        headers["X-InfoTrack-Delivery"] = str(delivery_id)
    if channel.secret:
        headers["X-InfoTrack-Signature"] = webhook_signature(channel.secret, timestamp, body)
    return PreparedRequest(channel.url, headers, body)


def send(
    client: httpx.Client,
    channel: Channel,
    message: Message,
    *,
    now: float,
    delivery_id: int | None = None,
) -> SendResult:
    """POST ``message`` to ``channel``; failures come back as a :class:`SendResult`, not raised."""
    request = prepare(channel, message, now=now, delivery_id=delivery_id)
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        response = client.post(
            request.url, content=request.body, headers=request.headers, timeout=channel.timeout
        )
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        return SendResult(False, None, "渠道地址无效", False, elapsed())
    except httpx.TimeoutException as exc:
        error = f"{_TIMEOUT_TEXTS.get(type(exc), '请求超时')}（{channel.timeout:g} 秒）"
        return SendResult(False, None, error, True, elapsed())
    except httpx.TransportError as exc:
        what = "无法连接" if isinstance(exc, httpx.ConnectError) else "网络错误"
        detail = _redact(str(exc) or type(exc).__name__, channel)[:_ERRMSG_CHARS]
        return SendResult(False, None, f"{what}：{detail}", True, elapsed())
    except httpx.HTTPError as exc:
        # An answer that could not be read (say, a broken gzip body): the server did get the
        # message, so sending it again would likely post it twice.
        error = f"响应无法读取：{type(exc).__name__}"
        return SendResult(False, None, error, False, elapsed())
    return _classify(channel, response, elapsed())


def verify_webhook_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance: float = 300,
) -> bool:
    """True when a generic-webhook delivery is authentic and fresh; for receivers.

    A receiver reads ``X-InfoTrack-Timestamp`` (unix seconds) and ``X-InfoTrack-Signature``
    (``"sha256=" + hex(HMAC-SHA256(secret, f"{timestamp}.".encode() + body))``) and passes
    them with the raw body bytes exactly as received (before any JSON parsing)::

        ok = verify_webhook_signature(
            secret,
            request.headers["X-InfoTrack-Timestamp"],
            raw_body,
            request.headers["X-InfoTrack-Signature"],
            now=time.time(),
        )

    Timestamps more than ``tolerance`` seconds from ``now`` (either way) are refused, so a
    captured request cannot be replayed later; the comparison takes constant time. Deduplicate
    on ``X-InfoTrack-Delivery``: a retried delivery keeps its id.
    """
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance:
        return False
    expected = webhook_signature(secret, timestamp.strip(), body)
    return hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace"))


def truncate_utf8(text: str, limit: int, note: str = TRUNCATION_NOTE) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8 (note included), on a character boundary.

    A line boundary is preferred when one is near, so a cut never leaves bold text or a link
    half open.
    """
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    budget = max(limit - len(note.encode()), 0)
    # Decoding a prefix drops at most one trailing, incomplete character.
    kept = data[:budget].decode("utf-8", "ignore")
    line_end = kept.rfind("\n")
    if line_end >= len(kept) // 2:
        kept = kept[:line_end]
    return kept + note


# --- helpers ---------------------------------------------------------------------------------

_TIMEOUT_TEXTS: dict[type[Exception], str] = {
    httpx.ConnectTimeout: "连接超时",
    httpx.ReadTimeout: "等待响应超时",
    httpx.WriteTimeout: "发送超时",
    httpx.PoolTimeout: "等待空闲连接超时",
}


def _json_bytes(payload: dict[str, Any]) -> bytes:
    # "replace": a lone surrogate in a user's name must not stop the alert.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The generic webhook's ``X-InfoTrack-Signature`` value (anchors are signed alike)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _without_title(message: Message) -> str:
    first, _, rest = message.markdown.partition("\n")
    return rest if first.startswith("**") and first.endswith("**") else message.markdown


def _classify(channel: Channel, response: httpx.Response, elapsed_ms: int) -> SendResult:
    status = response.status_code
    vendor = VENDOR_NAMES.get(channel.kind, channel.kind)
    code, errmsg = _vendor_code(channel, response)
    code_text = ""
    if code is not None:
        code_text = f"{vendor}错误码 {code}"
        if errmsg:
            code_text += f"：{_redact(errmsg, channel)[:_ERRMSG_CHARS]}"
    rate_limited = code in RETRYABLE_CODES.get(channel.kind, frozenset())

    if 200 <= status < 300:
        if channel.kind == "webhook":
            return SendResult(True, status, None, False, elapsed_ms)
        if code == 0:
            return SendResult(True, status, None, False, elapsed_ms)
        if code is None:
            return SendResult(
                False, status, f"{vendor}响应无法识别（HTTP {status}）", False, elapsed_ms
            )
        suffix = "（限流，稍后重试）" if rate_limited else ""
        return SendResult(False, status, code_text + suffix, rate_limited, elapsed_ms)

    if status == 429:
        text, retryable = f"HTTP {status} 请求过于频繁", True
    elif status >= 500:
        text, retryable = f"HTTP {status} 服务端错误", True
    elif status >= 400:
        # Feishu's older endpoints signal their rate limit as HTTP 400 with a code.
        text, retryable = f"HTTP {status} 请求被拒绝", rate_limited
    else:
        text, retryable = f"HTTP {status} 非预期的响应", False
    if code_text and code != 0:
        text += f"，{code_text}"
    return SendResult(False, status, text, retryable, elapsed_ms)


def _vendor_code(channel: Channel, response: httpx.Response) -> tuple[int | None, str | None]:
    """The vendor's error code and message in a JSON answer, when there is one."""
    if channel.kind == "webhook":
        return None, None
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(body, dict):
        return None, None
    keys: tuple[tuple[str, str], ...] = (("errcode", "errmsg"),)
    if channel.kind == "feishu":
        keys = (("code", "msg"), ("StatusCode", "StatusMessage"))
    for code_key, message_key in keys:
        code = _as_int(body.get(code_key))
        if code is not None:
            message = body.get(message_key)
            return code, str(message) if message is not None else None
    return None, None


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _redact(text: str, channel: Channel) -> str:
    """``text`` without the channel's secret, address, query values or token-like path parts."""
    parts = urlsplit(channel.url)
    hidden = [channel.secret or "", channel.url]
    hidden += [value for _, value in parse_qsl(parts.query)]
    # Feishu's token is the last path segment; other services put keys in the path too.
    hidden += [segment for segment in parts.path.split("/") if len(segment) >= 16]
    for value in sorted({v for v in hidden if len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, _REDACTED).replace(quote(value, safe=""), _REDACTED)
    return text
