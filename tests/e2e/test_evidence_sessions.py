"""Sessions on record, end to end (issue 19, items 1 and 2): the SSM sessions a grant's holder opened on its node
during the grant, read from Session Manager (moto, extended with DescribeSessions) by the scheduler's job and once
more after the revocation, kept with the request and shown in ``/jit status``, the App Home, the audit channel's
end-of-access line, the digest and ``jitbot audit export``, each with a link to its log (or "not logged").
Time is the bot's fake clock, and Session Manager's too."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core import sessions
from core.digest import daily_digest
from core.i18n import ENGLISH
from core.model import NodeSession
from fakes import cast
from fakes.aws import FakeAws
from fakes.stack import Stack
from handlers.digest_blocks import plain_text
from tests.aws.e2e_support import ALICE_ROLE, AUDIT, FAST_ELECTION, HOME, ended, granted, policy_file, said
from tests.e2e import slack_steps as slack
from tests.fakes_core import FakeClock
from tests.helpers import eventually

StackFactory = Callable[..., Stack]
ALICE_SESSION = f"arn:aws:sts::{HOME}:assumed-role/alice/alice@example.com"
LOG_GROUP = "/aws/ssm/sessions"


@pytest.fixture
def clock(fake_aws: tuple[FakeAws, dict[str, str]]) -> Iterator[FakeClock]:
    """The bot's clock and Session Manager's, moved by the test; Session Manager's preferences reset after."""
    made = FakeClock(datetime.now(UTC).replace(microsecond=0))
    aws = fake_aws[0]
    aws.set_clock(made.now)
    yield made
    aws.set_clock(None)
    with contextlib.suppress(Exception):  # a test that set no preferences
        aws.client("ssm").delete_document(Name="SSM-SessionManagerRunShell")


def _recorded(stack: Stack, rid: str) -> list[NodeSession]:
    assert stack.runtime is not None
    return sessions.recorded(stack.runtime.ctx, rid)


def test_two_sessions_of_a_grant_are_on_record_with_their_log_links_everywhere(
        stack_factory: StackFactory, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stack = stack_factory(policy_file(), settings=FAST_ELECTION, clock=clock)
    stack.aws.set_session_logs(log_group=LOG_GROUP)
    uid = uuid.uuid4().hex[:8]
    node = stack.aws.add_instance(f"ev-{uid}", {"Environment": "prod"})
    earlier = stack.aws.start_session(node, ALICE_SESSION, started=clock.now() - timedelta(hours=2))
    stack.aws.end_session(earlier, clock.now() - timedelta(hours=1))  # before the grant: not its session
    grant = granted(stack, cast.ALICE, f"request ev-{uid} 1h look at the disk", node)
    assert grant.principal_arn == ALICE_ROLE

    clock.advance(minutes=1)
    first = stack.aws.start_session(node, ALICE_SESSION)
    someone_else = stack.aws.start_session(node, f"arn:aws:iam::{HOME}:user/erin")
    clock.advance(minutes=4)
    stack.aws.end_session(first)  # Alice typed exit
    clock.advance(minutes=1)
    second = stack.aws.start_session(node, ALICE_SESSION, document="AWS-StartPortForwardingSession")
    assert stack.runtime is not None and stack.runtime.scheduler is not None
    polled = stack.runtime.scheduler.run_sessions()  # the job: this grant was never read, so it is due
    assert grant.id in polled.requests and polled.errors == []

    on_record = {s.id: s for s in _recorded(stack, grant.id)}
    assert set(on_record) == {first, second}  # not the earlier session, not Erin's
    assert on_record[first].status == "Terminated" and on_record[first].ended_at is not None
    assert on_record[second].ended_at is None and on_record[second].document == "AWS-StartPortForwardingSession"
    for kept in on_record.values():  # the log stream is named after the session, in the account's log group
        assert kept.log == "cloudwatch" and kept.log_url == (
            "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/"
            f"$252Faws$252Fssm$252Fsessions/log-events/{kept.id.replace('@', '$2540')}")
    assert stack.runtime.scheduler.run_sessions().requests == []  # read at most every few minutes
    clock.advance(sessions.POLL_EVERY)
    assert grant.id in stack.runtime.scheduler.run_sessions().requests

    status = stack.slash(cast.ALICE, f"status {grant.id}")
    assert "Sessions (2)" in status and first in status and second in status and "CloudWatch log" in status

    clock.advance(minutes=2)
    assert "has ended" in stack.slash(cast.ALICE, f"release {grant.id}")
    done = ended(stack, grant.id)
    assert done.sessions_ended == 1  # the port forwarding, still open
    line = said(stack, AUDIT, grant.id, "released", "Sessions (2)")
    text = str(line.params["text"])
    assert first in text and second in text and "CloudWatch log" in text and someone_else not in text
    assert all(s.ended_at is not None for s in _recorded(stack, grant.id))

    final = stack.runtime.scheduler.run_sessions()  # the final read after the revocation
    assert grant.id in final.requests
    assert grant.id not in stack.runtime.scheduler.run_sessions().requests  # and never again

    t0 = time.time()
    assert slack.sim(stack).event({"type": "app_home_opened", "user": cast.ALICE, "channel": f"D{cast.ALICE}",
                                   "tab": "home"}).status == 200
    home = eventually(lambda: (v := slack.home_view(stack, cast.ALICE)) and grant.id in json.dumps(v)
                      and second in json.dumps(v) and v, timeout=10, what="the App Home with the sessions")
    assert "2 sessions" in json.dumps(home) and stack.slack.calls_to("views.publish")[-1].at >= t0

    clock.advance(minutes=1)  # the digest's window is half-open: [a day ago, now)
    digest = plain_text(ENGLISH, daily_digest(stack.runtime.ctx))
    assert "Sessions opened (2 on 1 grant)" in digest and f"{grant.id}" in digest and "2 sessions" in digest

    from bot.cli import main
    for name, value in {"DATABASE_URL": stack.database_url, "JIT_POLICIES": str(stack.policies_path)}.items():
        monkeypatch.setenv(name, value)
    archive = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--output", str(archive)]) == 0
    exported = [json.loads(line) for line in archive.read_text("utf-8").splitlines()]
    opened = [e["detail"] for e in exported if e["request_id"] == grant.id and e["action"] == sessions.OPENED]
    closed = [e["detail"]["session_id"] for e in exported if e["request_id"] == grant.id
              and e["action"] == sessions.ENDED]
    assert sorted(d["session_id"] for d in opened) == sorted(closed) == sorted([first, second])
    assert all(d["log_url"] and d["document"] for d in opened)


def test_sessions_of_an_account_that_keeps_no_logs_say_not_logged(stack_factory: StackFactory,
                                                                   clock: FakeClock) -> None:
    stack = stack_factory(policy_file(), settings=FAST_ELECTION, clock=clock)
    uid = uuid.uuid4().hex[:8]
    node = stack.aws.add_instance(f"nl-{uid}", {"Environment": "prod"})
    grant = granted(stack, cast.ALICE, f"request nl-{uid} 1h look", node)
    clock.advance(minutes=1)
    opened = stack.aws.start_session(node, ALICE_SESSION)
    assert stack.runtime is not None and stack.runtime.scheduler is not None
    stack.runtime.scheduler.run_sessions()
    [kept] = _recorded(stack, grant.id)
    assert (kept.id, kept.log, kept.log_url) == (opened, "none", None)
    assert "not logged" in stack.slash(cast.ALICE, f"status {grant.id}")


def test_a_failed_read_of_the_sessions_is_retried_at_the_next_run(stack_factory: StackFactory,
                                                                                clock: FakeClock) -> None:
    stack = stack_factory(policy_file(), settings=FAST_ELECTION, clock=clock)
    uid = uuid.uuid4().hex[:8]
    node = stack.aws.add_instance(f"so-{uid}", {"Environment": "prod"})
    grant = granted(stack, cast.ALICE, f"request so-{uid} 1h look", node)
    clock.advance(minutes=1)
    opened = stack.aws.start_session(node, ALICE_SESSION)
    assert stack.runtime is not None and stack.runtime.scheduler is not None
    stack.aws.fail_next("ssm:DescribeSessions", "AccessDeniedException", times=1, status=400)
    report = stack.runtime.scheduler.run_sessions()
    assert report.errors and grant.id in report.errors[0] and _recorded(stack, grant.id) == []
    assert grant.id in stack.runtime.scheduler.run_sessions().requests  # a failed read is due again at once
    assert [s.id for s in _recorded(stack, grant.id)] == [opened]
