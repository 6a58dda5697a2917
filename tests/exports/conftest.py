"""Exports read the same trail and cast as the history tests, and read files back for real."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import unquote

from fastapi.testclient import TestClient
from httpx import Response

from tests.history.conftest import cast, client_with, trail  # noqa: F401  (shared fixtures)

EXPORT = "/api/information-tracking/export"


def download(client: TestClient, headers: dict[str, str], fmt: str, **params: Any) -> Response:
    """A successful export; the whole answer."""
    response = client.get(EXPORT, params={"format": fmt, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response


def attachment_name(response: Response) -> str:
    """The UTF-8 file name of ``Content-Disposition`` (RFC 5987 ``filename*``)."""
    header = response.headers["content-disposition"]
    assert header.startswith("attachment;"), header
    encoded = header.split("filename*=UTF-8''", 1)[1]
    return unquote(encoded)


def read_csv(content: bytes) -> list[list[str]]:
    """The rows of a CSV export, after checking its BOM and CRLF line ends."""
    assert content.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM"
    text = content[3:].decode("utf-8")
    assert "\r\n" in text
    assert "\n" not in text.replace("\r\n", ""), "every line ends with CRLF"
    return list(csv.reader(io.StringIO(text, newline="")))
