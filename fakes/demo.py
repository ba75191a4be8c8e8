"""``jitbot demo``: the whole story on the embedded fakes, printed as a conversation.

Nothing leaves the machine: Slack is the local fake Web API, AWS is moto on loopback, the database is a
SQLite file in a temporary directory, and Slack's side of the conversation is signed HTTP requests into
the real ``/slack/events`` endpoint.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core.i18n import ENGLISH, Tr
from core.model import AccessRequest, State
from fakes import cast
from fakes.aws import FakeAws
from fakes.pagerduty import TOKEN, FakePagerDuty
from fakes.slack_calls import RecordedCall
from fakes.stack import REPO_POLICIES, IdentityCenterSeed, Stack, seed_aws, seed_identity_center
from handlers import ids

NAMES = {uid: str(info["name"]) for uid, info in cast.USERS.items()}
CHANNELS = {"C0SREAPPR": "#sre-approvals", "C0MGRAPPR": "#manager-approvals", "C0AUDIT01": "#jit-audit",
            "C0DATAAPR": "#data-approvals"}
#: what the demo adds to the policy file it runs: moto's Identity Center instance, and a policy whose requesters
#: and approvers are Identity Center groups (``cast.IDC_GROUPS``) for the node ``cast.DATA_NODE``
IDENTITY_CENTER_TABLES = """
# Added by `jitbot demo`: moto's IAM Identity Center instance, and nodes decided by Identity Center groups.
[identity_center]
instance_arn = "{instance}"
identity_store_id = "{store}"
region = "{region}"
portal_url = "https://{store}.awsapps.com/start"

[[manual_approval]]
name = "data-platform"
description = "Data nodes: Identity Center's data engineers, approved by a data lead"
targets = {{ tags = {{ Environment = "analytics" }} }}
requesters = ["idc-group:data-engineers"]
max_duration = "2h"

  [[manual_approval.levels]]
  name = "Data lead"
  channel = "C0DATAAPR"
  approvers = ["idc-group:data-leads"]
  required = 1
"""
#: what the demo adds for its on-call chapter: an auto-approval for whoever the fake PagerDuty says is on call for
#: ``cast.ONCALL_SCHEDULE``, on the node ``cast.ONCALL_NODE`` (which no other policy of the file names)
ON_CALL_TABLES = """
# Added by `jitbot demo`: whoever PagerDuty says is on call for the ops schedule gets the ops nodes at once.
[[auto_approval]]
name = "on-call-ops"
description = "Ops nodes: whoever is on call for the ops schedule, at once"
targets = {{ tags = {{ Environment = "ops" }} }}
requesters = ["pagerduty:{schedule}"]
max_duration = "1h"
"""
ON_CALL_POLICY = "on-call-ops"


class Transcript:
    """Prints what jitbot said on Slack since the last call, as people would see it."""

    def __init__(self, stack: Stack, tr: Tr = ENGLISH) -> None:
        self.stack = stack
        self.tr = tr
        self.seen = 0
        self.start = time.time()

    def _stamp(self, at: float | None = None) -> str:
        return f"[{(at or time.time()) - self.start:5.1f}s]"

    def person(self, user: str, text: str) -> None:
        print(f"{self._stamp()} {NAMES[user]:>8} › {text}")

    def note(self, text: str) -> None:
        print(f"{self._stamp()} {'':>8}   ({text})")

    def flush(self) -> None:
        calls = self.stack.slack.calls
        for call in calls[self.seen:]:
            line = _render(call, self.tr)
            if line:
                print(f"{self._stamp(call.at)} {'jitbot':>8} {line}")
        self.seen = len(calls)


def _where(channel: str, tr: Tr) -> str:
    if channel.startswith("D"):
        return tr("DM to {name}", name=NAMES.get(channel[1:], channel[1:]))
    return CHANNELS.get(channel, channel)


def _plain(text: str) -> str:
    for uid, name in NAMES.items():
        text = text.replace(f"<@{uid}>", f"@{name}")
    for cid, name in CHANNELS.items():
        text = text.replace(f"<#{cid}>", name)
    return " ".join(text.replace("```", "").split())


def _render(call: RecordedCall, tr: Tr) -> str | None:
    p = call.params
    if call.method == "response_url":
        return tr("→ (only you can see this) {text}", text=_plain(str(p.get("text", ""))))
    if call.method == "chat.postMessage":
        where = _where(str(p["channel"]), tr)
        text = _plain(str(p.get("text", "")))
        line = tr("→ {where} (in thread): {text}", where=where, text=text) if p.get("thread_ts") else \
            tr("→ {where}: {text}", where=where, text=text)
        return line + tr(" [Approve] [Reject]") if ids.APPROVE in json.dumps(p.get("blocks", [])) else line
    if call.method == "chat.update":
        if ids.APPROVE not in json.dumps(p.get("blocks", [])):
            return tr("↻ {where}: approval message buttons removed", where=_where(str(p["channel"]), tr))
        return tr("↻ {where}: approval message updated", where=_where(str(p["channel"]), tr))
    return None


def _wait(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("the demo did not reach the expected state in time")


def _policies_text() -> str:
    configured = Path(os.environ.get("JIT_POLICIES", "policies.toml"))
    source = configured if configured.is_file() else REPO_POLICIES
    return source.read_text("utf-8")


def with_identity_center(text: str, seed: IdentityCenterSeed, region: str) -> str | None:
    """The policy file plus ``IDENTITY_CENTER_TABLES`` for moto's instance; None when the file has its own
    ``[identity_center]`` (a second one would not parse, and the demo's people are in moto's)."""
    if re.search(r"^\s*\[identity_center\]", text, re.MULTILINE):
        return None
    return text + IDENTITY_CENTER_TABLES.format(instance=seed.instance_arn, store=seed.identity_store_id,
                                                region=region)


def _statement(document: dict[str, Any], tr: Tr) -> str:
    first = document["Statement"][0]
    resource = first["Resource"][0] if isinstance(first["Resource"], list) else first["Resource"]
    return tr("{action} on {resource} while aws:CurrentTime < {end}", action=first["Action"], resource=resource,
              end=first["Condition"]["DateLessThan"]["aws:CurrentTime"])


def _iam(stack: Stack, t: Transcript, principal: str, request_id: str) -> bool:
    tr, who = t.tr, principal.split(":")[-1]
    document = stack.aws.inline_policies(principal).get(f"jitbot-{request_id}")
    if document is None:
        t.note(tr("IAM: {principal} has no policy jitbot-{id}", principal=who, id=request_id))
        return False
    t.note(tr("IAM: {principal} has policy jitbot-{id}: {statement}", principal=who, id=request_id,
              statement=_statement(document, tr)))
    return True


def _idc(stack: Stack, t: Transcript, request_id: str) -> bool:
    """Prints what Identity Center holds for the grant: its permission set, inline statement and assignment."""
    tr, name = t.tr, f"jitbot-{request_id}"
    found = stack.aws.permission_sets().get(name)
    if found is None:
        t.note(tr("Identity Center: no permission set {name}, so no assignment and no role", name=name))
        return False
    t.note(tr("Identity Center: permission set {name} ({arn})", name=name, arn=found["arn"].split(":")[-1]))
    t.note("  " + tr("inline policy: {statement}", statement=_statement(found["policy"], tr)))
    for account, user_id in found["assignments"]:
        t.note("  " + tr("assigned to Identity Store user {user} in account {account}", user=user_id,
                         account=account))
    return True


def _ended(stack: Stack, request_id: str, state: State = State.EXPIRED) -> bool:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        found = uow.repo.get(request_id)
    return found is not None and found.state is state and not found.needs_cleanup


def story(stack: Stack, t: Transcript, window: int) -> None:
    tr, alice_role = t.tr, "arn:aws:iam::123456789012:role/alice"
    reason = tr("disk full on /var")  # the reasons people type are in their language
    command = f"request web-1 {window}s {reason}"
    t.person(cast.ALICE, f"/jit {command}")
    stack.slash(cast.ALICE, command)
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        rid = uow.repo.by_requester(cast.ALICE)[0].id
    t.flush()
    for user, channel in ((cast.SAM, "C0SREAPPR"), (cast.CAROL, "C0MGRAPPR"), (cast.DAVE, "C0MGRAPPR")):
        t.person(user, tr("clicks Approve on {id} in {channel}", id=rid, channel=CHANNELS[channel]))
        stack.click(user, ids.APPROVE, rid, channel)
        t.flush()
    _iam(stack, t, alice_role, rid)
    session = stack.aws.start_session(stack.nodes["web-1"], "arn:aws:sts::123456789012:assumed-role/alice/alice")
    t.note(tr("Alice opens SSM session {session} on web-1", session=session))
    t.note(tr("waiting for the {window} window to close…", window=timedelta(seconds=window)))
    _wait(lambda: _ended(stack, rid), timeout=window + 20)
    time.sleep(0.3)
    t.flush()
    if _iam(stack, t, alice_role, rid):
        raise SystemExit(tr("demo failed: the grant is still attached after expiry"))
    live = stack.aws.sessions(target=stack.nodes["web-1"], state="Active")
    t.note(tr("active SSM sessions on {node}: {count}", node="web-1", count=len(live)))
    for user, command, reason in ((cast.BOB, "request dev-1 30m", tr("run the migration")),
                                  (cast.MALLORY, "request pci-db 1h", tr("look at payments"))):
        t.person(user, f"/jit {command} {reason}")
        stack.slash(user, f"{command} {reason}")
        t.flush()


def identity_center(stack: Stack, t: Transcript, window: int, seed: IdentityCenterSeed) -> None:
    """Nora has no ``[identities]`` entry: jitbot finds her in the identity store by her confirmed Slack email,
    Carol approves as a member of an Identity Center group, the grant is a permission set assigned to Nora."""
    tr, node, node_id = t.tr, cast.DATA_NODE.name, stack.nodes[cast.DATA_NODE.name]
    t.note(tr("IAM Identity Center: the policy file gains [identity_center] for moto's instance {instance} "
              "(identity store {store})", instance=seed.instance_arn.split("/")[-1], store=seed.identity_store_id))
    t.note("  " + tr("and the policy 'data-platform' (Environment=analytics): requesters idc-group:data-engineers, "
                     "approvers idc-group:data-leads"))
    reason = tr("rebuild the nightly extract")
    command = f"request {node} {window}s {reason}"
    t.person(cast.NORA, f"/jit {command}")
    stack.slash(cast.NORA, command)
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        request = uow.repo.by_requester(cast.NORA)[0]
    t.flush()
    t.note(tr("Nora has no [identities] entry: jitbot found her confirmed Slack email {email} in the identity store, "
              "and her grants go to {principal}", email=cast.USERS[cast.NORA]["email"],
              principal=request.principal_arn))
    t.person(cast.CAROL, tr("clicks Approve on {id} in {channel} (her email is an Identity Store user in group "
                            "data-leads)", id=request.id, channel=CHANNELS["C0DATAAPR"]))
    stack.click(cast.CAROL, ids.APPROVE, request.id, "C0DATAAPR")
    t.flush()
    if not _idc(stack, t, request.id):
        raise SystemExit(tr("demo failed: no permission set after the approval"))
    role = f"AWSReservedSSO_jitbot-{request.id}_…"
    owner = stack.aws.idc_session_owner(f"jitbot-{request.id}", "nora@example.com")
    session = stack.aws.start_session(node_id, owner)
    t.note(tr("Nora signs in to the role {role} and opens SSM session {session} on {node}", role=role,
              session=session, node=node))
    t.note(tr("waiting for the {window} window to close…", window=timedelta(seconds=window)))
    _wait(lambda: _ended(stack, request.id), timeout=window + 20)
    time.sleep(0.3)
    t.flush()
    if _idc(stack, t, request.id):
        raise SystemExit(tr("demo failed: the permission set is still there after expiry"))
    t.note(tr("active SSM sessions on {node}: {count}", node=node,
              count=len(stack.aws.sessions(target=node_id, state="Active"))))


def with_on_call(text: str) -> str:
    """The policy file plus ``ON_CALL_TABLES``: an auto-approval for whoever is on call for ``cast.ONCALL_SCHEDULE``."""
    return text + ON_CALL_TABLES.format(schedule=cast.ONCALL_SCHEDULE)


def _latest(stack: Stack, user: str) -> AccessRequest | None:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        found = uow.repo.by_requester(user, limit=1)
    return found[0] if found else None


def on_call(stack: Stack, t: Transcript, pagerduty: FakePagerDuty) -> None:
    """Erin asks for the ops node while Tina is on call: the on-call auto-approval is not for her (the rest of the
    policy file decides); PagerDuty's schedule rotates to her, she asks again and is let in at once, then releases."""
    tr, node, schedule = t.tr, cast.ONCALL_NODE.name, cast.ONCALL_SCHEDULE
    principal = f"arn:aws:iam::{cast.ACCOUNT}:user/erin"
    t.note(tr("PagerDuty on call: the policy file gains the auto-approval '{policy}' (Environment=ops): requesters "
              "pagerduty:{schedule}, that is whoever PagerDuty says is on call at the moment of the request",
              policy=ON_CALL_POLICY, schedule=schedule))
    pagerduty.schedules[schedule] = [str(cast.USERS[cast.TINA]["email"])]
    t.note(tr("the fake PagerDuty REST API on 127.0.0.1 says {name} is on call for {schedule}", name=NAMES[cast.TINA],
              schedule=schedule))
    reason = tr("restart the stuck queue consumer")
    command = f"request {node} 30m {reason}"
    t.person(cast.ERIN, f"/jit {command}")
    stack.slash(cast.ERIN, command)
    t.flush()
    first = _latest(stack, cast.ERIN)
    if first is None:
        t.note(tr("Erin is not on call, so '{policy}' does not let her in, and no other policy of the file does: "
                  "refused", policy=ON_CALL_POLICY))
    elif first.state is State.PENDING:
        t.note(tr("Erin is not on call, so '{policy}' does not let her in at once: the policy '{deciding}' decides, "
                  "and it waits for an approver; she withdraws the request", policy=ON_CALL_POLICY,
                  deciding=first.policy))
        t.person(cast.ERIN, f"/jit cancel {first.id}")
        stack.slash(cast.ERIN, f"cancel {first.id}")
        t.flush()
    else:
        raise SystemExit(tr("demo failed: Erin was let in while not on call"))
    pagerduty.schedules[schedule] = [str(cast.USERS[cast.ERIN]["email"])]
    t.note(tr("the schedule {schedule} rotates: PagerDuty now says {name} is on call", schedule=schedule,
              name=NAMES[cast.ERIN]))
    t.person(cast.ERIN, f"/jit {command}")
    stack.slash(cast.ERIN, command)
    t.flush()
    granted = _latest(stack, cast.ERIN)
    if granted is None or granted.state is not State.ACTIVE or not _iam(stack, t, principal, granted.id):
        raise SystemExit(tr("demo failed: the person on call was not let in at once"))
    t.person(cast.ERIN, f"/jit release {granted.id}")
    stack.slash(cast.ERIN, f"release {granted.id}")
    _wait(lambda: _ended(stack, granted.id, State.REVOKED))
    t.flush()
    if _iam(stack, t, principal, granted.id):
        raise SystemExit(tr("demo failed: the grant is still attached after the release"))


def with_language(text: str, language: str) -> str:
    """The policy file with ``[settings] language`` (and ``channel_language``) set to ``language``: the demo's
    people read what jitbot says in the language the demo is told in."""
    wanted = f'language = "{language}"\nchannel_language = "{language}"\n'
    header = re.search(r"^[ \t]*\[settings\][ \t]*(#.*)?$", text, re.MULTILINE)
    if header is None:
        return f"{text.rstrip()}\n\n[settings]\n{wanted}"
    following = re.search(r"^[ \t]*\[", text[header.end():], re.MULTILINE)
    end = header.end() + following.start() if following else len(text)
    body = re.sub(r"^[ \t]*(channel_)?language[ \t]*=.*\n?", "", text[header.end():end], flags=re.MULTILINE)
    return text[:header.end()] + "\n" + wanted + body.lstrip("\n") + text[end:]


def run(window_seconds: int = 6, tr: Tr = ENGLISH) -> int:
    """The demo, narrated in ``tr``'s language, which is also the policy file's language for its run."""
    logging.basicConfig(level=logging.WARNING)
    print(tr("jitbot demo: fake Slack + moto on 127.0.0.1, SQLite in a temporary directory") + "\n")
    window = max(2, window_seconds)
    with tempfile.TemporaryDirectory(prefix="jitbot-demo-") as workdir, FakeAws() as aws, \
            FakePagerDuty() as pagerduty:
        nodes, seed = seed_aws(aws), seed_identity_center(aws)
        for spec in (cast.DATA_NODE, cast.ONCALL_NODE):
            nodes[spec.name] = aws.add_instance(name=spec.name, tags=spec.tags)
        text = _policies_text()
        with_idc = with_identity_center(text, seed, aws.region)
        policies = with_language(with_on_call(with_idc or text), tr.language)
        on_call_settings = {"pagerduty_token": SecretStr(TOKEN), "pagerduty_api_url": pagerduty.url,
                            "pagerduty_cache_seconds": 0}
        stack = Stack(Path(workdir), policies=policies, aws=aws, nodes=nodes, sweep_seconds=0.5,
                      settings=on_call_settings)
        with stack:
            t = Transcript(stack, tr)
            story(stack, t, window)
            print()
            if with_idc is None:
                t.note(tr("the policy file has its own [identity_center]: the Identity Center chapter is skipped"))
            else:
                identity_center(stack, t, window, seed)
            print()
            on_call(stack, t, pagerduty)
    print("\n" + tr("demo complete: requested, approved at two levels, granted in IAM, expired and revoked; then "
                    "granted through IAM Identity Center on an Identity Center group's approval, expired and "
                    "removed; then granted at once to the person PagerDuty has on call, and released."))
    return 0
