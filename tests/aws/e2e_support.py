"""Helpers of the AWS end-to-end tests (tests/e2e/test_aws_*.py): a policy file, the request → approval path
over signed HTTP, and waiting for what jitbot said where. No fixtures here: the e2e tests use conftest's."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws.gateway import AwsGateway
from bot.policies import PolicyHolder
from bot.root import account_roles
from bot.scheduler import Scheduler
from bot.settings import Settings
from core.model import AccessRequest, State
from fakes import cast
from fakes.aws import SECOND_ACCOUNT
from fakes.slack_calls import RecordedCall
from fakes.stack import Stack
from handlers import ids
from tests.helpers import button_value, eventually, request, valid_blocks

HOME = cast.ACCOUNT
FAR = SECOND_ACCOUNT
ALICE_ROLE = f"arn:aws:iam::{HOME}:role/alice"
ERIN_USER = f"arn:aws:iam::{HOME}:user/erin"
AUDIT = "C0AUDIT01"
SRE = "C0SREAPPR"
MGR = "C0MGRAPPR"

#: Stack settings: on PostgreSQL a stack's scheduler starts once it wins the leader election (bot/leader.py);
#: check for leadership often so that it starts at once.
FAST_ELECTION: dict[str, object] = {"leader_seconds": 0.3}

ONE_SRE = """
[[manual_approval]]
name = "one-sre"
targets = "all"
max_duration = "2h"
  [[manual_approval.levels]]
  name = "SRE"
  channel = "C0SREAPPR"
  approvers = ["S0SRELEAD"]
"""


def _toml(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value).lower() if isinstance(value, bool) else str(value)


def policy_file(identities: dict[str, str] | None = None, settings: dict[str, object] | None = None,
                extra: str = "") -> str:
    """A policy file for these tests: one SRE level on every node, the second account in ``[accounts]``,
    timers that do not fire by themselves (reminders, warnings, reconciliation off unless given)."""
    chosen: dict[str, object] = {"audit_channel": AUDIT, "reminder_interval": "0", "expiry_warning": "0",
                                 "reconcile_interval": "0", **(settings or {})}
    people = identities if identities is not None else {cast.ALICE: ALICE_ROLE, "erin@example.com": ERIN_USER}
    lines = ["[settings]", *(f"{k} = {_toml(v)}" for k, v in chosen.items()), "", "[identities]",
             *(f"{_toml(k)} = {_toml(v)}" for k, v in people.items()), "", "[accounts]",
             f'"{FAR}" = {{ role_arn = "arn:aws:iam::{FAR}:role/jitbot" }}', "", extra, ONE_SRE]
    return "\n".join(lines)


class QuickRetryStack(Stack):
    """The Stack, with a gateway whose botocore retries give up after ``max_attempts`` (the production
    default is 5, whose throttling backoff sleeps several seconds): the application-level retry shows sooner."""

    max_attempts = 2

    def aws_gateway(self, settings: Settings, policies: PolicyHolder) -> Any:
        return AwsGateway(self.aws.session, "us-east-1", endpoint_url=self.aws.endpoint_url, account_id=HOME,
                          accounts=lambda: account_roles(policies()), max_attempts=self.max_attempts)


def scheduler_of(stack: Stack, timeout: float = 60) -> Scheduler:
    """The stack's running scheduler. Call it before anything that needs the sweep or a timer (expiry,
    retries, scheduled reconciliation): on PostgreSQL the scheduler starts once this stack leads."""
    def running() -> Scheduler | None:
        scheduler = stack.runtime.scheduler if stack.runtime is not None else None
        return scheduler if scheduler is not None and scheduler.running else None

    return eventually(running, timeout=timeout, what="this stack's scheduler (leader election)")


def approval_for(stack: Stack, node_id: str, channel: str = SRE, after: float = 0.0) -> tuple[str, dict[str, Any]]:
    """The first approval message posted at or after ``after`` (``time.time()``) for a request on ``node_id``,
    validated: (request id, its parameters)."""
    call = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("channel") == channel
                                and "blocks" in c.params and "thread_ts" not in c.params and c.at >= after
                                and node_id in c.params.get("text", ""), timeout=10)
    valid_blocks(call.params["blocks"])
    return button_value(call.params, ids.APPROVE), call.params


def until(stack: Stack, rid: str, check: Callable[[AccessRequest], bool], what: str,
          timeout: float = 10) -> AccessRequest:
    """The request ``rid`` once ``check`` holds for it."""
    def probe() -> AccessRequest | None:
        found = request(stack, rid)
        return found if check(found) else None

    return eventually(probe, timeout=timeout, what=what)


def granted(stack: Stack, requester: str, text: str, node_id: str, approver: str = cast.SAM,
            channel: str = SRE) -> AccessRequest:
    """``/jit request …`` then one approval: the request once AWS answered (active or failed)."""
    before = time.time()
    stack.slash(requester, text)
    rid, _ = approval_for(stack, node_id, channel, before)
    stack.click(approver, ids.APPROVE, rid, channel)
    return until(stack, rid, lambda r: r.state in (State.ACTIVE, State.FAILED), f"{rid} granted or failed")


def ended(stack: Stack, rid: str, timeout: float = 15) -> AccessRequest:
    """The request once its end is confirmed on AWS (no cleanup left)."""
    return until(stack, rid, lambda r: r.state.is_final and not r.needs_cleanup, f"{rid} ended and revoked", timeout)


def said(stack: Stack, channel: str, *needles: str, thread: bool | None = None,
         timeout: float = 10) -> RecordedCall:
    """The first message in ``channel`` (``D<user>`` for a DM) containing every needle; ``thread``: only
    replies in a thread (True) or only top-level messages (False)."""
    def match(call: RecordedCall) -> bool:
        params = call.params
        return (call.method == "chat.postMessage" and params.get("channel") == channel
                and (thread is None or ("thread_ts" in params) == thread)
                and all(n in str(params.get("text", "")) for n in needles))

    found = stack.slack.wait_for(match, timeout=timeout)
    if "blocks" in found.params:
        valid_blocks(found.params["blocks"])
    return found


def texts(stack: Stack, channel: str, needle: str) -> list[str]:
    """Every message text in ``channel`` containing ``needle`` (to count notices)."""
    return [str(c.params.get("text", "")) for c in stack.slack.messages(channel)
            if needle in str(c.params.get("text", ""))]


def settle(seconds: float = 0.5) -> None:
    """Let a few sweeps run, to show that something does *not* happen (never a timing assertion)."""
    time.sleep(seconds)
