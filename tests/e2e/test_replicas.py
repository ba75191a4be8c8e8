"""Two ``jitbot serve`` processes on one PostgreSQL: any replica serves Slack, one leads the scheduler,
and when the leader is killed with SIGKILL the other takes over and revokes each due grant exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes import cast
from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from fakes.slack_client import SlackSimulator
from fakes.stack import REPO_POLICIES
from handlers import ids
from tests.conftest import PG_URL, fresh_database
from tests.helpers import eventually

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not PG_URL, reason="JITBOT_TEST_DATABASE_URL names no PostgreSQL")]
SECRET = "replica-test-secret"


def jit_policy_names(aws: FakeAws, principal: str) -> list[str]:
    """Names only (a policy deleted between list and get must not break the check)."""
    role = principal.rsplit("/", 1)[-1]
    return aws.client("iam").list_role_policies(RoleName=role)["PolicyNames"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz?ready=1", timeout=2) as answer:  # noqa: S310
                return json.loads(answer.read())
        except Exception:
            return None

    def role(self) -> str | None:
        found = self.health()
        return found["scheduler"]["role"] if found else None


@pytest.fixture
def replicas(tmp_path: Path, fake_slack: FakeSlack,
             fake_aws: tuple[FakeAws, dict[str, str]]) -> Iterator[list[Replica]]:
    aws, _ = fake_aws
    policies = tmp_path / "policies.toml"
    policies.write_text(REPO_POLICIES.read_text("utf-8"), "utf-8")
    env = {**os.environ, **aws.env(), "SLACK_BOT_TOKEN": "xoxb-replica", "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": fake_slack.url, "DATABASE_URL": fresh_database("postgresql", tmp_path),
           "JIT_POLICIES": str(policies), "HOST": "127.0.0.1", "SWEEP_SECONDS": "1", "LEADER_SECONDS": "1",
           "LOG_FORMAT": "json"}
    started: list[Replica] = []
    for name in ("a", "b"):
        port = free_port()
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env={**env, "PORT": str(port)},
                                   stdout=log, stderr=subprocess.STDOUT)
        started.append(Replica(name, port, process))
    try:
        for replica in started:
            eventually(lambda r=replica: (r.health() or {}).get("status") == "ok", timeout=60,
                       what=f"replica {replica.name} ready")
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in started:
            try:
                replica.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                replica.process.kill()


def test_leader_killed_follower_revokes_each_grant_once(replicas: list[Replica], fake_slack: FakeSlack,
                                                       fake_aws: tuple[FakeAws, dict[str, str]]) -> None:
    aws, _ = fake_aws
    fake_slack.clear()
    roles = eventually(lambda: sorted(r.role() or "" for r in replicas) == ["follower", "leader"] and True,
                       timeout=20, what="one leader and one follower")
    assert roles
    leader = next(r for r in replicas if r.role() == "leader")
    follower = next(r for r in replicas if r is not leader)
    sims = [SlackSimulator(r.url, SECRET, fake_slack) for r in (leader, follower)]

    # any replica serves Slack: request on one, approve alternately on both
    assert sims[1].command(cast.ALICE, "request web-1 12s replicas").status == 200
    post = fake_slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("channel") == "C0SREAPPR"
                               and "blocks" in c.params, timeout=20)
    rid = next(e["value"] for b in post.params["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert sims[0].block_action(cast.SAM, ids.APPROVE, rid, channel_id="C0SREAPPR").status == 200
    fake_slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("channel") == "C0MGRAPPR", timeout=20)
    assert sims[1].block_action(cast.CAROL, ids.APPROVE, rid, channel_id="C0MGRAPPR").status == 200
    assert sims[0].block_action(cast.DAVE, ids.APPROVE, rid, channel_id="C0MGRAPPR").status == 200
    assert sims[0].command(cast.BOB, "request dev-1 12s replicas too").status == 200
    granted = eventually(lambda: [c for c in fake_slack.messages() if "Access granted" in str(c.params.get("text"))
                                  and c.params["channel"].startswith("D")] if len(
        [c for c in fake_slack.messages() if "Access granted" in str(c.params.get("text"))
         and c.params["channel"].startswith("D")]) >= 2 else None, timeout=20, what="two grants")
    rids = {rid} | {str(c.params["text"]).split("*")[1] for c in granted}
    assert len(rids) == 2
    principals = {"arn:aws:iam::123456789012:role/alice", "arn:aws:iam::123456789012:role/bob"}
    assert sum(name[7:] in rids for p in principals for name in jit_policy_names(aws, p)) == 2

    leader.process.send_signal(signal.SIGKILL)  # the leader dies while both grants are due in a few seconds
    leader.process.wait(timeout=10)
    # both grants are still in IAM: whatever revokes them now is the follower's doing
    assert sum(name[7:] in rids for p in principals for name in jit_policy_names(aws, p)) == 2
    eventually(lambda: follower.role() == "leader", timeout=15, what="the follower taking over within 15 s")
    eventually(lambda: not any(name[7:] in rids for p in principals for name in jit_policy_names(aws, p)),
               timeout=30, what="both grants revoked by the new leader")
    time.sleep(3)  # anything that would post twice has had time to do so
    for request_id in rids:
        expired = [c for c in fake_slack.messages() if c.params["channel"].startswith("D")
                   and request_id in str(c.params.get("text")) and "expired" in str(c.params.get("text"))]
        assert len(expired) == 1, (request_id, [c.params["text"] for c in expired])
