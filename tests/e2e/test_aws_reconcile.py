"""Drift reconciliation as operators meet it: the scheduled run (``[settings] reconcile_interval``) and
``jitbot reconcile`` on the command line, against the same database and AWS as a running bot."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.cli import main
from core.model import State
from fakes import cast
from fakes.aws import FakeAws
from fakes.stack import Stack
from tests.aws.e2e_support import AUDIT, FAST_ELECTION, ended, granted, policy_file, said, scheduler_of
from tests.helpers import request

StackFactory = Callable[..., Stack]


@pytest.fixture
def root_logging() -> Iterator[None]:
    """``jitbot reconcile`` configures logging for a process: give the test process its logging back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_scheduled_reconciliation_removes_an_orphan(stack_factory: StackFactory,
                                                     fake_aws: tuple[FakeAws, dict[str, str]]) -> None:
    aws, _ = fake_aws
    role = aws.create_role(f"sched-{uuid.uuid4().hex[:8]}")
    stack = stack_factory(policy_file({cast.ALICE: role}, {"reconcile_interval": "1s"}), settings=FAST_ELECTION)
    scheduler_of(stack)
    aws.put_inline_policy(role, "jitbot-R0LEFTOVER")

    said(stack, AUDIT, ":broom:", "jitbot-R0LEFTOVER", role, timeout=15)
    assert "jitbot-R0LEFTOVER" not in aws.inline_policies(role)


def test_off_when_the_interval_is_zero(stack_factory: StackFactory, fake_aws: tuple[FakeAws, dict[str, str]]) -> None:
    aws, _ = fake_aws
    role = aws.create_role(f"off-{uuid.uuid4().hex[:8]}")
    stack = stack_factory(policy_file({cast.ALICE: role}, {"reconcile_interval": "0"}), settings=FAST_ELECTION)
    jobs = scheduler_of(stack)._scheduler
    assert jobs.get_job("reconcile") is None and jobs.get_job("sweep") is not None


def test_cli_reconcile_prints_what_it_did(stack_factory: StackFactory, fake_aws: tuple[FakeAws, dict[str, str]],
                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path, root_logging: None) -> None:
    aws, _ = fake_aws
    uid = uuid.uuid4().hex[:8]
    role = aws.create_role(f"cli-{uid}")
    stack = stack_factory(policy_file({cast.ALICE: role}), settings=FAST_ELECTION)
    node = aws.add_instance(f"cli-{uid}", {"Environment": "prod"})
    other = aws.add_instance(f"cli2-{uid}", {"Environment": "prod"})  # one live request per person and node
    grant = granted(stack, cast.ALICE, f"request cli-{uid} 1h still working", node)
    aws.put_inline_policy(role, "jitbot-R0STRAY00")
    gone = granted(stack, cast.ALICE, f"request cli2-{uid} 1h second one", other)
    aws.delete_inline_policy(role, f"jitbot-{gone.id}")

    workdir = tmp_path / "cli"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # no stray .env
    environment = {**aws.env(), "DATABASE_URL": stack.database_url, "JIT_POLICIES": str(stack.policies_path),
                   "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_API_URL": stack.slack.url, "LOG_LEVEL": "WARNING"}
    for key, value in environment.items():
        monkeypatch.setenv(key, value)

    assert main(["reconcile"]) == 0
    printed = capsys.readouterr().out
    assert f"removed jitbot-R0STRAY00 from {role}: no request of jitbot's database has this id" in printed
    # granted a moment ago (IAM may not show jitbot's write yet): not judged, and not written either
    assert f"not checked {gone.id}: granted less than 2m ago" in printed
    assert f"not checked {grant.id}: granted less than 2m ago" in printed
    assert "checked 1 principal from [identities] and 2 active grants" in printed
    assert sorted(aws.inline_policies(role)) == [f"jitbot-{grant.id}"]
    said(stack, AUDIT, ":broom:", "jitbot-R0STRAY00")

    assert main(["reconcile"]) == 0
    assert "removed" not in capsys.readouterr().out
    assert request(stack, grant.id).state is State.ACTIVE and request(stack, gone.id).state is State.ACTIVE
    stack.slash(cast.ALICE, f"release {gone.id}")
    assert ended(stack, gone.id).state is State.REVOKED
    assert main(["reconcile"]) == 0
    assert "not checked" in capsys.readouterr().out  # the grant still young: neither judged nor "nothing to do"
