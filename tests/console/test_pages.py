"""The console's pages and assets over plain HTTP: security headers, the SDK, the bundled font."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from infotrack.config import Settings
from infotrack.console.router import DIST
from infotrack.db import Sources
from infotrack.tracking.events import EVENT_LABELS, EventType
from tests.conftest import bearer, create_account

FRONTEND = Path(__file__).parents[2] / "frontend"


def test_console_page_forbids_inline_scripts_and_framing(client: TestClient) -> None:
    answer = client.get("/")
    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert '<script defer src="static/dist/console.js">' in answer.text
    assert "http" not in answer.text.split("<body>")[0]  # no CDN, no absolute URL


def test_assets_are_served_from_the_package(client: TestClient) -> None:
    script = client.get("/static/dist/console.js")
    assert script.status_code == 200
    assert script.content == (DIST / "console.js").read_bytes()
    font = client.get("/static/fonts/cjk.ttf")
    assert font.status_code == 200
    assert font.headers["content-type"] == "font/ttf"
    assert font.content[:4] == b"\x00\x01\x00\x00"  # a TrueType file


def test_tracker_sdk_loads_from_any_origin(client: TestClient) -> None:
    answer = client.get("/sdk/tracker.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["access-control-allow-origin"] == "*"
    assert b"InfoTrack" in answer.content


def test_me_tells_the_console_what_to_offer(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings, "boss", role="管理员")
    create_account(sources, settings, "auditor", role="审计")
    create_account(sources, settings, "root", role="系统管理员")
    create_account(sources, settings, "rep", role="业务员")

    def permissions(username: str) -> dict[str, bool]:
        me = client.get("/api/auth/me", headers=bearer(client, username)).json()["data"]
        return dict(me["permissions"])

    # 管理员 administers accounts, 审计 audits: separate duties; 系统管理员 holds both.
    assert permissions("boss") == {
        "manageAccounts": True,
        "readAccessLog": False,
        "verifyAudit": False,
        "readAlerts": True,
    }
    assert permissions("auditor") == {
        "manageAccounts": False,
        "readAccessLog": True,
        "verifyAudit": True,
        "readAlerts": True,
    }
    assert permissions("root") == {
        "manageAccounts": True,
        "readAccessLog": True,
        "verifyAudit": True,
        "readAlerts": True,
    }
    assert permissions("rep") == {
        "manageAccounts": False,
        "readAccessLog": False,
        "verifyAudit": False,
        "readAlerts": False,
    }


def test_console_knows_every_event_type_with_the_servers_label() -> None:
    source = (FRONTEND / "src" / "console" / "i18n.js").read_text(encoding="utf-8")
    listed = re.search(r"EVENT_TYPES = \[(.*?)\]", source, re.S)
    assert listed is not None
    assert re.findall(r"'(\w+)'", listed.group(1)) == [t.value for t in EventType]
    for event_type, label in EVENT_LABELS.items():
        assert f"'event.{event_type.value}': '{label}'" in source
