"""A change of the alert rules is an administrative act: the worker writes it to the access log.

Rules come only from a TOML file (no API changes them), so the change is noticed where the
file is read. The worker remembers in its checkpoint the digest of the rules it last
recorded; when the rules it runs with differ, it writes ``rules_changed`` (who: the worker
on this host, naming the file; details: the path, the file's SHA-256, the previous digest
and the rule names) in the same fenced transaction that stores the new digest. So a restart
with the same file writes nothing, a file edited while no worker ran is logged at the next
start, and two workers never log the same change twice. The built-in rules of a fresh
installation are nobody's act and are not logged; going back to them is.
"""

from __future__ import annotations

import hashlib
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from infotrack.alerts.rules import RulesError
from infotrack.alerts.types import RuleSet
from infotrack.audit.access_log import entry_values, system_context

ACTION = "rules_changed"


def rules_digest(path: Path | None) -> str | None:
    """SHA-256 of the rules file's bytes; None for the built-in rules."""
    if path is None:
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise RulesError(str(path), None, None, "文件不存在") from None
    except OSError as exc:
        raise RulesError(str(path), None, None, f"无法读取({exc.strerror})") from None


def rules_change_entry(
    path: Path | None,
    digest: str | None,
    previous: str | None,
    ruleset: RuleSet,
    occurred_at: datetime,
) -> dict[str, Any]:
    """The access-log entry for rules now in force that differ from the ones last recorded."""
    host = socket.gethostname()
    path = None if path is None else path.absolute()
    if path is None:
        ctx = system_context(f"system:{host}:built-in", "内置告警规则")
    else:
        ctx = system_context(f"system:{host}:{path}", f"告警规则文件 {path.name}")
    details = {
        "path": None if path is None else str(path),
        "sha256": digest,
        "previousSha256": previous,
        "rules": [rule.name for rule in ruleset.rules],
    }
    return entry_values(ctx, ACTION, details, len(ruleset.rules), occurred_at)
