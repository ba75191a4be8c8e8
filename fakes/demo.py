"""``jitbot demo``: the whole story on the embedded fakes, printed as a conversation.

Nothing leaves the machine: Slack is the local fake Web API, AWS is moto on loopback, the database is a
SQLite file in a temporary directory, and Slack's side of the conversation is signed HTTP requests into
the real ``/slack/events`` endpoint.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from core.model import State
from fakes import cast
from fakes.slack_calls import RecordedCall
from fakes.stack import REPO_POLICIES, Stack
from handlers import ids

NAMES = {uid: str(info["name"]) for uid, info in cast.USERS.items()}
CHANNELS = {"C0SREAPPR": "#sre-approvals", "C0MGRAPPR": "#manager-approvals", "C0AUDIT01": "#jit-audit"}


class Transcript:
    """Prints what jitbot said on Slack since the last call, as people would see it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
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
            line = _render(call)
            if line:
                print(f"{self._stamp(call.at)} {'jitbot':>8} {line}")
        self.seen = len(calls)


def _where(channel: str) -> str:
    if channel.startswith("D"):
        return f"DM to {NAMES.get(channel[1:], channel[1:])}"
    return CHANNELS.get(channel, channel)


def _plain(text: str) -> str:
    for uid, name in NAMES.items():
        text = text.replace(f"<@{uid}>", f"@{name}")
    for cid, name in CHANNELS.items():
        text = text.replace(f"<#{cid}>", name)
    return " ".join(text.replace("```", "").split())


def _render(call: RecordedCall) -> str | None:
    p = call.params
    if call.method == "response_url":
        return f"→ (only you can see this) {_plain(str(p.get('text', '')))}"
    if call.method == "chat.postMessage":
        thread = " (in thread)" if p.get("thread_ts") else ""
        buttons = " [Approve] [Reject]" if ids.APPROVE in json.dumps(p.get("blocks", [])) else ""
        return f"→ {_where(str(p['channel']))}{thread}: {_plain(str(p.get('text', '')))}{buttons}"
    if call.method == "chat.update":
        state = "buttons removed" if ids.APPROVE not in json.dumps(p.get("blocks", [])) else "updated"
        return f"↻ {_where(str(p['channel']))}: approval message {state}"
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


def _iam(stack: Stack, t: Transcript, principal: str, request_id: str) -> bool:
    document = stack.aws.inline_policies(principal).get(f"jitbot-{request_id}")
    if document is None:
        t.note(f"IAM: {principal.split(':')[-1]} has no policy jitbot-{request_id}")
        return False
    first = document["Statement"][0]
    t.note(f"IAM: {principal.split(':')[-1]} has policy jitbot-{request_id}: {first['Action']} on "
           f"{first['Resource'][0] if isinstance(first['Resource'], list) else first['Resource']} while "
           f"aws:CurrentTime < {first['Condition']['DateLessThan']['aws:CurrentTime']}")
    return True


def story(stack: Stack, window: int) -> None:
    t = Transcript(stack)
    alice_role = "arn:aws:iam::123456789012:role/alice"
    t.person(cast.ALICE, f"/jit request web-1 {window}s disk full on /var")
    stack.slash(cast.ALICE, f"request web-1 {window}s disk full on /var")
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        rid = uow.repo.by_requester(cast.ALICE)[0].id
    t.flush()
    for user, channel in ((cast.SAM, "C0SREAPPR"), (cast.CAROL, "C0MGRAPPR"), (cast.DAVE, "C0MGRAPPR")):
        t.person(user, f"clicks Approve on {rid} in {CHANNELS[channel]}")
        stack.click(user, ids.APPROVE, rid, channel)
        t.flush()
    _iam(stack, t, alice_role, rid)
    session = stack.aws.start_session(stack.nodes["web-1"], "arn:aws:sts::123456789012:assumed-role/alice/alice")
    t.note(f"Alice opens SSM session {session} on web-1")
    t.note(f"waiting for the {window}s window to close…")

    def ended() -> bool:
        with stack.runtime.ctx.uow() as uow:  # type: ignore[union-attr]
            found = uow.repo.get(rid)
        return found is not None and found.state is State.EXPIRED and not found.needs_cleanup

    _wait(ended, timeout=window + 20)
    time.sleep(0.3)
    t.flush()
    if _iam(stack, t, alice_role, rid):
        raise SystemExit("demo failed: the grant is still attached after expiry")
    live = stack.aws.sessions(target=stack.nodes["web-1"], state="Active")
    t.note(f"active SSM sessions on web-1: {len(live)}")
    t.person(cast.BOB, "/jit request dev-1 30m run the migration")
    stack.slash(cast.BOB, "request dev-1 30m run the migration")
    t.flush()
    t.person(cast.MALLORY, "/jit request pci-db 1h look at payments")
    stack.slash(cast.MALLORY, "request pci-db 1h look at payments")
    t.flush()


def run(window_seconds: int = 6) -> int:
    logging.basicConfig(level=logging.WARNING)
    print("jitbot demo: fake Slack + moto on 127.0.0.1, SQLite in a temporary directory\n")
    with tempfile.TemporaryDirectory(prefix="jitbot-demo-") as workdir:
        stack = Stack(Path(workdir), policies=_policies_text(), sweep_seconds=0.5)
        with stack:
            story(stack, max(2, window_seconds))
    print("\ndemo complete: requested, approved at two levels, granted in IAM, expired and revoked.")
    return 0
