"""handlers.later against the fake Slack Web API: the work runs after the caller returns, and a failure is
logged with a reference that the user also gets (in place when Slack gave a response_url, else by DM)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from slack_sdk import WebClient

from core.i18n import ENGLISH, Catalogs
from fakes.slack_api import FakeSlack
from handlers.later import Acks, Later


def _later(slack: FakeSlack) -> tuple[Later, ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2)
    return Later(pool, WebClient(token="xoxb-test", base_url=slack.url, retry_handlers=[])), pool


def test_the_work_runs_after_the_call_returns() -> None:
    with FakeSlack() as slack:
        later, pool = _later(slack)
        gate, ran = threading.Event(), threading.Event()

        def work(a: int, b: int) -> None:
            gate.wait(5)
            assert (a, b) == (1, 2)
            ran.set()

        later({"user": {"id": "U1"}}, work, 1, 2)  # returns while the work waits
        assert not ran.is_set()
        gate.set()
        assert ran.wait(5)
        pool.shutdown()
        assert slack.messages() == []


def test_a_failure_is_logged_and_told_by_dm_with_its_reference(caplog: pytest.LogCaptureFixture) -> None:
    def work() -> None:
        raise RuntimeError("the database went away")

    with FakeSlack() as slack, caplog.at_level(logging.ERROR, logger="handlers.later"):
        later, pool = _later(slack)
        later({"type": "block_actions", "user": {"id": "U0ALICE01"}}, work)
        pool.shutdown(wait=True)
        [told] = slack.messages("DU0ALICE01")  # a DM: block_actions from the App Home carry no response_url
        [record] = [r for r in caplog.records if r.getMessage() == "listener work failed"]
        reference = record.__dict__["ref"]
        assert f"`{reference}`" in told.params["text"] and ":boom:" in told.params["text"]
        assert record.exc_info is not None and "database went away" in str(record.exc_info[1])


def test_a_failure_after_a_slash_command_is_told_where_it_was_typed() -> None:
    def work() -> None:
        raise KeyError("trigger_id")

    with FakeSlack() as slack:
        later, pool = _later(slack)
        url = slack.make_response_url()
        later({"user_id": "U0ALICE01", "response_url": url, "command": "/jit"}, work)
        pool.shutdown(wait=True)
        [told] = slack.calls_to("response_url")
        assert ":boom:" in str(told.params["text"]) and told.params["response_type"] == "ephemeral"
        assert slack.messages() == []


def test_work_waits_for_the_acks_in_flight_then_runs() -> None:
    acks = Acks()
    with FakeSlack() as slack:
        pool = ThreadPoolExecutor(2)
        later = Later(pool, WebClient(token="xoxb-test", base_url=slack.url, retry_handlers=[]), acks,
                      acks_first=30.0)
        order: list[str] = []
        ran = threading.Event()
        with acks:  # a delivery being acknowledged
            later({"user": {"id": "U1"}}, lambda: (order.append("work"), ran.set()))
            assert not ran.wait(0.1)  # held back while the ack is in flight
            order.append("acked")
        assert ran.wait(5)
        pool.shutdown()
        assert order == ["acked", "work"]


def test_a_stream_of_acks_delays_work_by_at_most_acks_first() -> None:
    acks = Acks()
    with acks:  # never leaves: settled gives up after its timeout and the work runs anyway
        assert acks.settled(timeout=0.01) is False
    assert acks.settled(timeout=0.01) is True


def test_close_waits_for_the_work_under_way_then_takes_no_more() -> None:
    with FakeSlack() as slack:
        later, _ = _later(slack)
        started, finished = threading.Event(), threading.Event()

        def work() -> None:
            started.set()
            time.sleep(0.2)  # a decision being applied while jitbot is asked to stop
            finished.set()

        later({"user": {"id": "U1"}}, work)
        assert started.wait(5)
        assert later.close(timeout=10) == 0
        assert finished.is_set()  # close returned only once the work was done
        late = threading.Event()
        later({"user": {"id": "U1"}}, late.set)  # after close: dropped, not raised into the HTTP thread
        assert not late.wait(0.1)
        assert slack.messages() == []


def test_close_gives_up_on_work_that_outlasts_its_timeout() -> None:
    with FakeSlack() as slack:
        later, _ = _later(slack)
        release = threading.Event()
        later({"user": {"id": "U1"}}, lambda: release.wait(10))
        assert later.close(timeout=0.05) == 1
        release.set()


def test_a_failure_is_told_in_the_language_of_the_person_who_acted() -> None:
    def work() -> None:
        raise RuntimeError("boom")

    japanese = Catalogs().get("ja")
    with FakeSlack() as slack:
        pool = ThreadPoolExecutor(2)
        later = Later(pool, WebClient(token="xoxb-test", base_url=slack.url, retry_handlers=[]),
                      tr_for=lambda user: japanese if user == "U0KENJI01" else ENGLISH)
        later({"type": "block_actions", "user": {"id": "U0KENJI01"}}, work)
        later({"type": "block_actions", "user": {"id": "U0ALICE01"}}, work)
        pool.shutdown(wait=True)
        [told] = slack.messages("DU0KENJI01")
        assert "jitbot 側でエラーが発生しました" in told.params["text"]
        [english] = slack.messages("DU0ALICE01")
        assert "Something went wrong on jitbot's side" in english.params["text"]
