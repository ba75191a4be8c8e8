"""What the reliability tests share: a policy file writer, a Stack whose botocore gives up sooner, snapshots of
everything a request can change (database, audit trail, IAM, what Slack was asked to show), and answers read
from the fake Slack. No fixtures here (they are in conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aws.gateway import AwsGateway
from bot.policies import PolicyHolder
from bot.root import account_roles
from bot.settings import Settings
from core.model import AccessRequest, AuditEvent, Decision, State
from fakes import cast
from fakes.slack_calls import RecordedCall
from fakes.stack import Stack
from tests.helpers import eventually, valid_blocks

AUDIT = "C0AUDIT01"
ROLE = f"arn:aws:iam::{cast.ACCOUNT}:role/rel-alice"
#: Slack methods that change what people see (``views.publish`` is left out: App Home refreshes of earlier
#: notices arrive off-thread, whenever they like, and show the database as it is)
WRITES = frozenset({"chat.postMessage", "chat.update", "chat.delete", "chat.postEphemeral", "chat.scheduleMessage",
                    "views.open", "views.update", "views.push", "reactions.add"})


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def policy_file(levels: Iterable[Mapping[str, Any]], *, identities: Mapping[str, str] | None = None,
                settings: Mapping[str, object] | None = None, name: str = "reliability",
                targets: str = '"all"', max_duration: str = "4h", extra: str = "") -> str:
    """One manual-approval policy on ``targets`` with these levels; timers that do not fire by themselves."""
    chosen: dict[str, object] = {"audit_channel": AUDIT, "reminder_interval": "0", "expiry_warning": "0",
                                 "reconcile_interval": "0", **(settings or {})}
    people = identities if identities is not None else {cast.ALICE: ROLE}
    lines = ["[settings]", *(f"{k} = {toml_value(v)}" for k, v in chosen.items()), "", "[identities]",
             *(f"{toml_value(k)} = {toml_value(v)}" for k, v in people.items()), "", extra, "",
             "[[manual_approval]]", f"name = {toml_value(name)}", f"targets = {targets}",
             f"max_duration = {toml_value(max_duration)}"]
    for level in levels:
        lines += ["  [[manual_approval.levels]]", *(f"  {k} = {toml_value(v)}" for k, v in level.items())]
    return "\n".join(lines) + "\n"


class RelStack(Stack):
    """The Stack, with a gateway whose botocore gives up after ``max_attempts`` (production: 5, whose
    throttling backoff sleeps for seconds), so that jitbot's own handling of AWS failures shows at once."""

    max_attempts = 5
    #: the IAM principal that receives this bot's grants (``policies_of``, ``world`` look at it)
    grantee = ROLE

    def aws_gateway(self, settings: Settings, policies: PolicyHolder) -> Any:
        return AwsGateway(self.aws.session, "us-east-1", endpoint_url=self.aws.endpoint_url, account_id=cast.ACCOUNT,
                          accounts=lambda: account_roles(policies()), max_attempts=self.max_attempts)


# -- reading the state -------------------------------------------------------------------------------------------
def ctx(stack: Stack) -> Any:
    assert stack.runtime is not None
    return stack.runtime.ctx


def get(stack: Stack, request_id: str) -> AccessRequest:
    with ctx(stack).uow() as uow:
        found = uow.repo.get(request_id)
    assert found is not None, request_id
    return found  # type: ignore[no-any-return]


def trail(stack: Stack, request_id: str | None = None) -> list[AuditEvent]:
    with ctx(stack).uow() as uow:
        return uow.repo.events(request_id)  # type: ignore[no-any-return]


def actions(stack: Stack, request_id: str) -> list[str]:
    return [e.action for e in trail(stack, request_id)]


def _grantee(stack: Stack, principal: str | None) -> str:
    return principal or getattr(stack, "grantee", ROLE)


def policies_of(stack: Stack, principal: str | None = None) -> set[str]:
    return {name for name in stack.aws.inline_policies(_grantee(stack, principal)) if name.startswith("jitbot-")}


@dataclass(frozen=True)
class World:
    """Everything a refused action must leave as it was."""

    requests: Mapping[str, AccessRequest]
    decisions: Mapping[str, tuple[Decision, ...]]
    events: tuple[AuditEvent, ...]
    iam: frozenset[str]
    slack_calls: int


def world(stack: Stack, principal: str | None = None) -> World:
    with ctx(stack).uow() as uow:
        requests = {r.id: r for r in uow.repo.in_states(list(State), limit=100_000)}
        decisions = {rid: tuple(uow.repo.decisions(rid)) for rid in requests}
        events = tuple(uow.repo.events())
    return World(requests, decisions, events, frozenset(policies_of(stack, principal)), len(stack.slack.calls))


def slack_writes_since(stack: Stack, before: World | int) -> list[RecordedCall]:
    """What jitbot asked Slack to show since the snapshot (ephemeral answers through response_url excepted)."""
    start = before.slack_calls if isinstance(before, World) else before
    return [c for c in stack.slack.calls[start:] if c.method in WRITES]


def assert_unchanged(stack: Stack, before: World, what: str, principal: str | None = None) -> None:
    after = world(stack, principal)
    assert after.requests == before.requests, f"{what}: a request changed"
    assert after.decisions == before.decisions, f"{what}: a decision was recorded"
    assert after.events == before.events, f"{what}: the audit trail changed: {after.events[len(before.events):]}"
    assert after.iam == before.iam, f"{what}: IAM changed: {after.iam ^ before.iam}"
    writes = slack_writes_since(stack, before)
    assert not writes, f"{what}: Slack was asked to show {[(c.method, c.params.get('text')) for c in writes]}"


# -- what people were told ---------------------------------------------------------------------------------------
def answers(stack: Stack) -> list[RecordedCall]:
    return stack.slack.calls_to("response_url")


def answer_after(stack: Stack, before: int, timeout: float = 15) -> str:
    """The text of the first ephemeral answer after ``before`` of them (its blocks validated)."""
    stack.slack.wait_for(lambda c: c.method == "response_url" and len(answers(stack)) > before, timeout=timeout)
    params = answers(stack)[before].params
    if params.get("blocks"):
        valid_blocks(params["blocks"])
    return str(params.get("text", ""))


def messages(stack: Stack, channel: str, *needles: str, since: float = 0.0) -> list[RecordedCall]:
    return [c for c in stack.slack.messages(channel) if c.at >= since
            and all(n in str(c.params.get("text", "")) for n in needles)]


def said(stack: Stack, channel: str, *needles: str, since: float = 0.0, timeout: float = 15) -> RecordedCall:
    """The first message in ``channel`` (``D<user>`` for a DM) containing every needle, blocks validated."""
    call = stack.slack.wait_for(
        lambda c: c.method == "chat.postMessage" and c.params.get("channel") == channel and c.at >= since
        and all(n in str(c.params.get("text", "")) for n in needles), timeout=timeout)
    if call.params.get("blocks"):
        valid_blocks(call.params["blocks"])
    return call


def settled(stack: Stack, request_id: str, timeout: float = 20) -> AccessRequest:
    """The request once it is over and AWS confirmed the revocation."""
    return eventually(lambda: (r := get(stack, request_id)).state.is_final and not r.needs_cleanup and r,
                      timeout=timeout, what=f"{request_id} over and revoked")

