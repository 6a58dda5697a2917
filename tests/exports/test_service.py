"""The export service on its own: what it counts is what it writes."""

from __future__ import annotations

from infotrack.audit.access_log import AccessContext
from infotrack.auth.identity import Identity
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.exports.schemas import ExportFormat
from infotrack.exports.service import ExportService
from infotrack.history.schemas import TrailFilters
from infotrack.history.scope import scope_for
from infotrack.runtime import Runtime
from tests.history.conftest import U1, Cast, Trail, append, local


def test_rows_that_arrive_after_the_count_stay_out_of_the_file(
    sources: Sources, settings: Settings, cast: Cast, trail: Trail
) -> None:
    runtime = Runtime.build(settings, sources)
    service = ExportService(runtime)
    op = cast["zhouhao"].operator
    reader = Identity(
        "account", op.operator_id, op.company, op.department, None, op.role, op.name, None, None
    )
    scope = scope_for(reader, settings)
    plan = service.prepare(TrailFilters(), scope, AccessContext(reader), ExportFormat.CSV)
    late = append(sources, settings, cast["lisi"].operator, U1, "call", "晚到", local("2026-11-01"))
    newest = append(sources, settings, cast["lisi"].operator, U1, "call", "新", local("2026-12-01"))
    ids = [row.id for row in service.rows(plan)]
    assert plan.meta.row_count == 12
    assert sorted(ids) == sorted(trail.ids.values())
    assert late not in ids
    assert newest not in ids
