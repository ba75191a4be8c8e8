"""The outbox's rows: an intent comes back as it was owed, claims are exclusive, and migration 0007 carries over
the end-of-access notices that ``notice_due`` (migration 0005) left due."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from core.model import AccessRequest, Event, Intent, Notice, Send, State
from store.convert import REQUESTS, request_columns
from store.engine import create_session_factory, make_engine
from store.migrate import upgrade
from store.uow import SqlUnitOfWork
from tests.store.conftest import T0, build_request


def test_an_intent_comes_back_as_owed_and_is_claimed_once(uow_factory: Callable[[], SqlUnitOfWork],
                                                          stored: Callable[..., AccessRequest]) -> None:
    request = stored(state=State.EXPIRED, expires_at=T0, ended_at=T0, sessions_ended=2)
    event = Event(Notice.EXPIRED, request, actor="jitbot", reason="the access window ended", sessions=2)
    with uow_factory() as uow:
        uow.repo.owe(Intent(Send.APPROVAL, request.id, level=1), T0)
        uow.repo.owe(Intent(Send.NOTICE, request.id, event=event, threads="level-0"), T0)
        uow.commit()
    with uow_factory() as uow:
        first, second = uow.repo.owed([request.id])
        assert first.intent == Intent(Send.APPROVAL, request.id, level=1)
        assert second.intent == Intent(Send.NOTICE, request.id, event=event, threads="level-0")
        assert uow.repo.claim_owed(second.id, T0, T0 + timedelta(minutes=2))
        assert not uow.repo.claim_owed(second.id, T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
        uow.repo.owed_failed(second.id, attempts=1, retry_at=T0 + timedelta(seconds=2), done=frozenset({"dm"}),
                             error="chat.postMessage: 503", dead=False)
        uow.repo.owed_sent(first.id, T0)
        uow.commit()
    with uow_factory() as uow:
        [left] = uow.repo.owed()
        assert (left.id, left.attempts, left.done) == (second.id, 1, frozenset({"dm"}))
        assert uow.repo.owed_counts() == {"due": 1, "dead": 0}
        assert uow.repo.retry_owed_now(T0) == 1


#: the columns of ``requests`` added after revision 0005
LATER_COLUMNS = {"escalated_level", "starts_at", "more_nodes"}  # columns of migrations after 0005


def test_migration_0007_carries_over_the_notices_left_due(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'due.db'}"
    upgrade(url, "0005")
    engine = make_engine(url)
    sessions = create_session_factory(engine)
    due = build_request(state=State.EXPIRED, ended_at=T0, notice_due=True)
    with engine.begin() as connection:  # rows as schema 0005 holds them (later revisions add columns)
        for row in (due, build_request(state=State.EXPIRED, ended_at=T0)):
            connection.execute(REQUESTS.insert().values(
                {k: v for k, v in request_columns(row).items() if k not in LATER_COLUMNS}))
    upgrade(url)
    with SqlUnitOfWork(sessions) as uow:
        [item] = uow.repo.owed()
        assert item.intent == Intent(Send.NOTICE, due.id)  # said as the request is when it is sent
        got = uow.repo.get(due.id)
        assert got is not None and not got.notice_due
    engine.dispose()


def test_an_item_owed_before_migration_0011_reads_back_as_one_node() -> None:
    from store.outbox import _request_from_json, payload

    request = build_request(state=State.ACTIVE)
    data = payload(Intent(Send.NOTICE, request.id, event=Event(Notice.GRANTED, request)))["event"]["request"]
    assert data["more_nodes"] is None  # one node: NULL, as in every row written before the migration
    del data["more_nodes"]
    assert _request_from_json(data) == request
