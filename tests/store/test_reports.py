"""store.reports: the Reports port on SQL (checked against the in-memory reference on the same seeded
history), its query plans, retention batches and the audit export."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from core.digest import build_digest
from core.model import AuditEvent, Kind, State
from store.reports import SqlReports, export, history
from store.uow import SqlUnitOfWork
from tests.fakes_core import NOW, FakeWorld, check_seeded_digest, seed_history

UowFactory = Callable[[], SqlUnitOfWork]


def test_sql_reports_give_the_reference_figures(uow_factory: UowFactory, factory: sessionmaker[Session]) -> None:
    seed_history(uow_factory)
    digest = build_digest(SqlReports(factory), NOW, "Asia/Tokyo")
    check_seeded_digest(digest)
    world = FakeWorld(start=NOW)
    seed_history(world.ctx.uow)
    assert digest == build_digest(world.reports, NOW, "Asia/Tokyo")  # the fake and the adapter agree


def test_windows_are_half_open(uow_factory: UowFactory, factory: sessionmaker[Session]) -> None:
    seed_history(uow_factory)
    reports = SqlReports(factory)
    # RA2 was created exactly 5 hours before NOW and RA1 2 hours before: [NOW-5h, NOW-2h) holds RA2 only
    assert reports.created_by_state(NOW - timedelta(hours=5), NOW - timedelta(hours=2))["active"] == 1
    assert reports.created_by_state(NOW - timedelta(hours=10), NOW - timedelta(hours=5))["active"] == 0
    assert reports.action_counts(["auto_approved"], NOW - timedelta(hours=2), NOW) == {"auto_approved": 1}
    assert reports.action_counts(["auto_approved", "nothing"], NOW, NOW + timedelta(days=1)) == \
        {"auto_approved": 0, "nothing": 0}
    assert [r.id for r in reports.unreviewed(Kind.BREAKGLASS, "breakglass_reviewed", limit=5)] == ["RB1"]
    assert reports.count_live(State.PENDING) == 2 and reports.count_live(State.APPROVED) == 0


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT the engine runs while the test runs."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_every_digest_query_is_served_by_an_index(uow_factory: UowFactory, factory: sessionmaker[Session],
                                                  engine: Engine, statements: list[tuple[str, Any]]) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("query plans are checked on SQLite, whose planner needs the hints")
    seed_history(uow_factory)
    statements.clear()
    build_digest(SqlReports(factory), NOW, "UTC")
    assert len(statements) >= 12
    scans = []
    with engine.connect() as conn:
        for statement, parameters in statements:
            plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, tuple(parameters))]
            full = [step for step in plan if re.match(r"SCAN (requests|audit_events)\b", step)]
            if full:
                scans.append((" ".join(statement.split()), plan))
    assert scans == []


def test_purge_before_runs_in_batches(uow_factory: UowFactory, factory: sessionmaker[Session]) -> None:
    seed_history(uow_factory)
    reports = SqlReports(factory)
    cutoff = NOW - timedelta(days=2)  # RO1, RO2, RO4, RB2 ended before (RO3 still needs cleanup); one event
    batches = []
    while (batch := reports.purge_before(cutoff, limit=2)) != (0, 0):
        batches.append(batch)
    assert batches == [(2, 1), (2, 0)]
    with uow_factory() as uow:
        for gone in ("RO1", "RO2", "RO4", "RB2"):
            assert uow.repo.get(gone) is None
        assert uow.repo.get("RO3") is not None and uow.repo.get("RB1") is not None
        assert {e.action for e in uow.repo.events() if e.at < cutoff} == set()


def test_history_pages_through_the_trail_in_order(uow_factory: UowFactory, factory: sessionmaker[Session]) -> None:
    with uow_factory() as uow:
        for i in range(7):
            uow.repo.add_event(AuditEvent(None, NOW + timedelta(minutes=i), "U1", f"e{i}", {"i": i}))
        uow.commit()
    assert [e.action for e in history(factory, batch=3)] == [f"e{i}" for i in range(7)]
    assert [e.action for e in history(factory, NOW + timedelta(minutes=5), batch=2)] == ["e5", "e6"]
    assert list(history(factory, NOW + timedelta(days=1))) == []


def test_export_formats(uow_factory: UowFactory, factory: sessionmaker[Session]) -> None:
    detail = {"reason": 'disk full, "again"\nsecond line', "node": "ウェブ-1", "n": 2}
    with uow_factory() as uow:
        uow.repo.add_event(AuditEvent("R1", NOW, "U0ALICE01", "submitted", detail))
        uow.repo.add_event(AuditEvent(None, NOW, "jitbot", "retention_purged", {}))
        uow.commit()
    out = io.StringIO()
    assert export(history(factory), out, "jsonl") == 2
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first == {"id": first["id"], "at": NOW.isoformat(), "request_id": "R1", "actor": "U0ALICE01",
                     "action": "submitted", "detail": detail}
    assert second["request_id"] is None and second["detail"] == {}
    out = io.StringIO()
    assert export(history(factory), out, "csv") == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["action"] for r in rows] == ["submitted", "retention_purged"]
    assert json.loads(rows[0]["detail"]) == detail and rows[1]["request_id"] == ""


def test_pending_revocations_agree_with_the_reference_and_use_indexes(
        uow_factory: UowFactory, factory: sessionmaker[Session], engine: Engine,
        statements: list[tuple[str, Any]]) -> None:
    """Revocations AWS has not confirmed (the gauge and the re-alert of core.pending): RX1 ended a minute ago and
    RO3 30 hours ago, both still ``needs_cleanup``; RA2, active, reaches its end 30 minutes after NOW."""
    seed_history(uow_factory)
    world = FakeWorld(start=NOW)
    seed_history(world.ctx.uow)
    statements.clear()
    for reports in (SqlReports(factory), world.reports):
        assert reports.unconfirmed_revocations(NOW) == (2, 0)
        assert reports.unconfirmed_revocations(NOW + timedelta(hours=1)) == (2, 1)
        assert [r.id for r in reports.pending_revocations(NOW - timedelta(minutes=15), limit=10)] == ["RO3"]
        assert [r.id for r in reports.pending_revocations(NOW + timedelta(hours=1), limit=10)] == ["RO3", "RX1",
                                                                                                   "RA2"]
        assert [r.id for r in reports.pending_revocations(NOW + timedelta(hours=1), limit=1)] == ["RO3"]
    if engine.dialect.name != "sqlite":
        return
    assert len(statements) == 10  # two per call
    with engine.connect() as conn:
        for statement, parameters in statements:
            plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, tuple(parameters))]
            assert not [step for step in plan if re.match(r"SCAN requests\b", step)], (statement, plan)
