"""Changing the policy file of a running bot: a rejected edit leaves the policies in force, a good one is
picked up by the watch and decides the next `/jit request` (signed HTTP); the audit channel hears of both.
And `jitbot serve` reloads on SIGHUP."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from fakes import cast
from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from fakes.stack import REPO_POLICIES, Stack
from tests.e2e.test_replicas import Replica, free_port
from tests.helpers import eventually, serve_env

StackFactory = Callable[..., Stack]
AUDIT = "C0AUDIT01"
FREEZE = '\n[[deny]]\nname = "dev-freeze"\ntargets = { tags = { Environment = "dev" } }\n'


def short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def audit_lines(stack: Stack, start: str) -> list[str]:
    return [str(c.params["text"]) for c in stack.slack.messages(AUDIT) if str(c.params["text"]).startswith(start)]


def test_an_edited_policy_file_decides_the_next_request(stack_factory: StackFactory) -> None:
    frozen, good = REPO_POLICIES.read_text("utf-8") + FREEZE, REPO_POLICIES.read_text("utf-8")
    stack = stack_factory(frozen, settings={"policy_poll_seconds": 0.05})
    assert stack.runtime is not None
    eventually(stack.runtime.leads, timeout=30, what="the scheduler role (the replica that posts)")
    assert "denied by policy 'dev-freeze'" in stack.slash(cast.BOB, "request dev-1 30m deploy")

    broken = good.replace('block = "all"', 'block = "some"')
    stack.policies_path.write_text(broken, "utf-8")
    [warning] = eventually(lambda: audit_lines(stack, ":warning:"), what="the rejection in the audit channel")
    assert f"(sha256 {short(broken)}…): deny[0].block: Input should be 'auto' or 'all'." in warning
    assert f"The previous version ({short(frozen)}…) stays in force." in warning
    assert "denied by policy 'dev-freeze'" in stack.slash(cast.BOB, "request dev-1 30m deploy")

    stack.policies_path.write_text(good, "utf-8")  # the freeze is lifted
    [line] = eventually(lambda: audit_lines(stack, ":scroll:"), what="the reload in the audit channel")
    assert line == (f":scroll: Policy file reloaded (sha256 {short(frozen)}… → {short(good)}…): "
                    "1 deny, 1 auto, 2 manual.")
    assert "granted until" in stack.slash(cast.BOB, "request dev-1 30m deploy")

    with stack.runtime.ctx.uow() as uow:
        audit = [(e.action, e.detail.get("sha256")) for e in uow.repo.events() if e.action.startswith("policies_")]
    full = {text: hashlib.sha256(text.encode()).hexdigest() for text in (frozen, broken, good)}
    assert audit == [("policies_loaded", full[frozen]), ("policies_reload_failed", full[broken]),
                     ("policies_reloaded", full[good])]
    assert len(audit_lines(stack, ":warning:")) == 1  # once for the bad version, not once per check


def test_serve_reloads_the_policy_file_on_sighup(tmp_path: Path, fake_slack: FakeSlack,
                                                 fake_aws: tuple[FakeAws, dict[str, str]]) -> None:
    aws, _ = fake_aws
    port = free_port()
    env = serve_env(tmp_path, fake_slack.url, aws.env(), port, "xoxb-sighup",
                    POLICY_POLL_SECONDS="0")  # no polling: only the signal can make it look
    policies = Path(env["JIT_POLICIES"])
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    replica = Replica("solo", port, process)
    try:
        eventually(lambda: (replica.health() or {}).get("status") == "ok", timeout=60, what="serve ready")
        policies.write_text(REPO_POLICIES.read_text("utf-8") + FREEZE, "utf-8")
        process.send_signal(signal.SIGHUP)
        eventually(lambda: '"msg": "policy file reloaded"' in log.read_text("utf-8"), what="the reload logged")
        assert process.poll() is None  # SIGHUP does not stop it
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0


def test_a_deny_added_while_a_request_waited_refuses_it_at_the_grant(stack_factory: StackFactory) -> None:
    """Approval takes time: a freeze written meanwhile is in force when the last approver clicks, and nothing is
    granted on AWS (the approvers were right about the request, the policy file now says no)."""
    from core.model import State
    from handlers import ids
    from tests.helpers import approval_post, button_value, events, request

    good = REPO_POLICIES.read_text("utf-8")
    stack = stack_factory(good, settings={"policy_poll_seconds": 0.05})
    assert stack.runtime is not None
    stack.slash(cast.ALICE, "request web-1 1h disk full on /var")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    assert "level 2" in stack.click(cast.SAM, ids.APPROVE, rid)

    freeze = good + '\n[[deny]]\nname = "web-freeze"\ntargets = { tags = { Team = "web" } }\n'
    stack.policies_path.write_text(freeze, "utf-8")
    eventually(lambda: audit_lines(stack, ":scroll:"), what="the freeze reloaded")
    stack.click(cast.CAROL, ids.APPROVE, rid, "C0MGRAPPR")
    stack.click(cast.DAVE, ids.APPROVE, rid, "C0MGRAPPR")

    failed = eventually(lambda: (r := request(stack, rid)).state is State.FAILED and r, what="the grant refused")
    assert failed.end_reason is not None and "policy 'web-freeze' now refuses access to web-1" in failed.end_reason
    assert f"jitbot-{rid}" not in stack.aws.inline_policies("arn:aws:iam::123456789012:role/alice")
    assert [e.action for e in events(stack, rid)][-2:] == ["approved", "grant_failed"]
    stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params["channel"] == f"D{cast.ALICE}"
                         and "web-freeze" in c.params.get("text", ""))
