"""Crashes: a real ``jitbot serve`` process dies (``kill -9``, or ``os._exit(137)`` at a failpoint of
``bot.failpoints``) at each step of a grant's life, and is started again on the same database:

1. after the approval is recorded, before the grant (``grant.before``);
2. after the IAM policy is written, before the database knows (``grant.after``);
3. when access ends: the database says expired, the policy is still in IAM (``revoke.before``);
4. during revocation: AWS removed the policy and ended the session, the database does not know (``revoke.after``);
5. killed with SIGKILL while access is active, and down when it expires (before revocation).

After each restart the state converges; once the process is back, the pending AWS step is done within one
sweep (plus a small margin for a loaded machine), never when the dead process's claim runs out; the grant
never outlived its expiry by more than that; ``jitbot reconcile`` finds no orphan ``jitbot-*`` policy; and the
audit trail is the complete, ordered trail of a normal life, each step once, each notice once.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from aws.gateway import AwsGateway
from bot.app import build
from bot.failpoints import ENV, EXIT_STATUS
from bot.settings import Settings
from core.model import AccessRequest, AuditEvent, State
from core.reconcile import reconcile
from fakes import cast
from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from fakes.slack_client import SlackSimulator
from handlers import ids
from store.engine import create_session_factory, make_engine
from store.uow import SqlUnitOfWork
from tests.e2e.test_replicas import free_port
from tests.helpers import eventually
from tests.reliability.support import policy_file

pytestmark = pytest.mark.slow

ROLE_NAME = "rel-crash"
ROLE = f"arn:aws:iam::{cast.ACCOUNT}:role/{ROLE_NAME}"
SECRET = "crash-test-secret"
SWEEP = 0.5
#: what a loaded 2-core machine may add to one sweep interval (scheduling, a slow moto answer); the failure
#: this bound catches is a step left to a dead process's claim (GRANT_LEASE, a minute) or to a backoff
MARGIN = 5.0
LEVELS = [{"name": "SRE lead", "channel": "C0SREAPPR", "approvers": ["S0SRELEAD"], "required": 1}]


@dataclass
class Server:
    """``jitbot serve`` in a subprocess; ``start`` again after it died, on the same port and database."""

    env: dict[str, str]
    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    boots: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, failpoints: str = "") -> None:
        self.boots += 1
        log = self.workdir / f"serve-{self.boots}.log"
        self.logs.append(log)
        env = {**self.env, "PORT": str(self.port), ENV: failpoints}
        with log.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env, stdout=out,
                                            stderr=subprocess.STDOUT)

    def up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:  # noqa: S310 - loopback
                return answer.status == 200
        except OSError:
            return False

    def wait_up(self) -> None:
        eventually(lambda: self.up() or self.exited() is not None, timeout=60, what=f"boot {self.boots} listening")
        assert self.exited() is None, f"boot {self.boots} died at start:\n{self.output()}"

    def exited(self) -> int | None:
        assert self.process is not None
        return self.process.poll()

    def wait_crash(self, point: str, timeout: float = 30) -> float:
        """Wait for the process to die at ``point``; returns when it was seen dead (time.time())."""
        eventually(lambda: self.exited() is not None, timeout=timeout,
                   what=f"boot {self.boots} to reach failpoint {point}")
        seen = time.time()
        assert self.exited() == EXIT_STATUS, self.output()
        assert f"failpoint {point} reached" in self.output(), self.output()
        return seen

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def output(self) -> str:
        return self.logs[-1].read_text("utf-8", "replace") if self.logs else ""

    def scheduler_started(self) -> float:
        """When the last boot's scheduler took over (its leadership log line), as time.time()."""
        for line in self.output().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "bot.leader":
                    return datetime.fromisoformat(entry["ts"]).timestamp()
        raise AssertionError(f"boot {self.boots} logged no scheduler start:\n{self.output()}")


@dataclass
class Db:
    """The test's own view of the database the server uses (no server needed to read it)."""

    url: str

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url)
        self.sessions = create_session_factory(self.engine)

    def get(self, request_id: str) -> AccessRequest:
        with SqlUnitOfWork(self.sessions) as uow:
            found = uow.repo.get(request_id)
        assert found is not None
        return found

    def trail(self, request_id: str) -> list[AuditEvent]:
        with SqlUnitOfWork(self.sessions) as uow:
            return uow.repo.events(request_id)

    def actions(self, request_id: str) -> list[str]:
        return [e.action for e in self.trail(request_id)]


@pytest.fixture
def server(tmp_path: Path, fake_slack: FakeSlack, fake_aws: tuple[FakeAws, dict[str, str]],
           database_url: str) -> Iterator[Server]:
    aws, _ = fake_aws
    aws.create_role(ROLE_NAME)
    policies = tmp_path / "policies.toml"
    policies.write_text(policy_file(LEVELS, identities={cast.ALICE: ROLE}), "utf-8")
    env = {**os.environ, **aws.env(), "SLACK_BOT_TOKEN": "xoxb-crash", "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": fake_slack.url, "DATABASE_URL": database_url, "JIT_POLICIES": str(policies),
           "HOST": "127.0.0.1", "SWEEP_SECONDS": str(SWEEP), "LEADER_SECONDS": "0.5", "LOG_FORMAT": "json"}
    made = Server(env, tmp_path, free_port())
    try:
        yield made
    finally:
        made.stop()


def _policies(aws: FakeAws) -> set[str]:
    return {p for p in aws.client("iam").list_role_policies(RoleName=ROLE_NAME)["PolicyNames"]
            if p.startswith("jitbot-")}


def _request(server: Server, slack: FakeSlack, text: str) -> str:
    sim = SlackSimulator(server.url, SECRET, slack)
    before = len(slack.calls_to("response_url"))
    assert sim.command(cast.ALICE, text).status == 200
    slack.wait_for(lambda c: c.method == "response_url" and len(slack.calls_to("response_url")) > before, timeout=15)
    answer = str(slack.calls_to("response_url")[before].params.get("text"))
    assert "submitted" in answer, answer
    return answer.split("*")[1]


def _approve(server: Server, slack: FakeSlack, rid: str, *, may_crash: bool = False) -> None:
    """Click Approve. ``may_crash``: the crash point is in the click's own work, which runs right after the ack;
    the process may die before the HTTP response leaves (the work starts as the ack is made), as Slack would see
    it: the decision is on record either way, and what the tests check is that the rest converges."""
    sim = SlackSimulator(server.url, SECRET, slack)
    try:
        assert sim.block_action(cast.SAM, ids.APPROVE, rid, channel_id="C0SREAPPR").status == 200
    except (ConnectionError, http.client.HTTPException, urllib.error.URLError):
        if not may_crash:
            raise


def _dms(slack: FakeSlack, rid: str, word: str) -> int:
    return len([c for c in slack.messages(f"D{cast.ALICE}") if rid in str(c.params.get("text"))
                and word in str(c.params.get("text"))])


def _ordered(trail: list[AuditEvent]) -> None:
    assert [e.id for e in trail] == sorted(e.id for e in trail)  # type: ignore[type-var]
    assert [e.at for e in trail] == sorted(e.at for e in trail), [(e.action, e.at) for e in trail]


def _late(done_at: float, due: datetime, back: float) -> float:
    """How long after it became possible (due, and the process back) a step was done, in seconds."""
    return done_at - max(due.timestamp(), back)


def _reconcile(server: Server, aws: FakeAws) -> list[str]:
    """One reconciliation pass over the server's database and policy file (what ``jitbot reconcile`` runs)."""
    env = server.env
    settings = Settings(slack_bot_token=SecretStr(env["SLACK_BOT_TOKEN"]), slack_signing_secret=SecretStr(SECRET),
                        slack_api_url=env["SLACK_API_URL"], database_url=env["DATABASE_URL"],
                        jit_policies=env["JIT_POLICIES"], aws_region=aws.region, aws_endpoint_url=aws.endpoint_url)
    runtime = build(settings, aws=lambda s, p: AwsGateway(aws.session, aws.region, endpoint_url=aws.endpoint_url,
                                                          account_id=cast.ACCOUNT))
    try:
        return reconcile(runtime.ctx).lines()
    finally:
        runtime.stop()


def test_a_crash_at_every_step_converges(server: Server, fake_slack: FakeSlack,
                                         fake_aws: tuple[FakeAws, dict[str, str]], database_url: str,
                                         figures: Counter[str]) -> None:
    """On PostgreSQL the grant's own crash points are left out: a grant interrupted there waits for its claim
    (GRANT_LEASE) since another replica might be granting it (see core.access.reclaim); revocations do not."""
    aws, nodes = fake_aws
    db = Db(database_url)
    single = database_url.startswith("sqlite")
    fake_slack.clear()
    crashes = 0

    if single:
        # 1. the approval is recorded, then the process dies before it grants
        server.start("grant.before")
        server.wait_up()
        rid = _request(server, fake_slack, "request web-1 5s crash test")
        _approve(server, fake_slack, rid, may_crash=True)
        server.wait_crash("grant.before")
        assert db.get(rid).state is State.APPROVED and _policies(aws) == set()
        assert db.actions(rid) == ["submitted", "approve", "approved"]

        # 2. back up: it grants at once, and dies before it records the grant
        server.start("grant.after")
        server.wait_crash("grant.after")
        assert _late(time.time(), db.trail(rid)[-1].at, server.scheduler_started()) <= SWEEP + MARGIN
        assert db.get(rid).state is State.APPROVED and _policies(aws) == {f"jitbot-{rid}"}
        assert db.actions(rid) == ["submitted", "approve", "approved"]
        crashes += 2

        # 3. back up: the grant is applied again (same policy name) and recorded
        server.start("revoke.before")
    else:
        server.start("revoke.before")
        server.wait_up()
        rid = _request(server, fake_slack, "request web-1 5s crash test")
        _approve(server, fake_slack, rid)
    active = eventually(lambda: (r := db.get(rid)).state is State.ACTIVE and r, timeout=30, what="the grant")
    assert active.expires_at is not None and _policies(aws) == {f"jitbot-{rid}"}
    session = aws.start_session(nodes["web-1"], f"arn:aws:sts::{cast.ACCOUNT}:assumed-role/{ROLE_NAME}/alice")

    # at expiry, the process dies after the database says "expired" and before AWS hears of it
    crashed = server.wait_crash("revoke.before")
    assert _late(crashed, active.expires_at, 0) <= SWEEP + MARGIN  # the expiry itself was on time
    ended = db.get(rid)
    assert (ended.state, ended.needs_cleanup) == (State.EXPIRED, True)
    assert _policies(aws) == {f"jitbot-{rid}"}  # (IAM's DateLessThan already refuses new sessions)

    # 4. back up: it revokes at once (policy deleted, session ended) and dies before it records that
    server.start("revoke.after")
    crashed = server.wait_crash("revoke.after")
    assert _late(crashed, active.expires_at, server.scheduler_started()) <= SWEEP + MARGIN
    assert _policies(aws) == set()
    assert [s["Status"] for s in aws.sessions(nodes["web-1"]) if s["SessionId"] == session] == ["Terminated"]
    assert db.get(rid).needs_cleanup

    # 5. back up: the revocation is confirmed (deleting again is a no-op) and told once
    server.start()
    eventually(lambda: (r := db.get(rid)).state is State.EXPIRED and not r.needs_cleanup and r,
               timeout=30, what="the confirmed revocation")
    confirmed = db.trail(rid)[-1]
    assert confirmed.action == "revocation_confirmed"
    assert _late(confirmed.at.timestamp(), active.expires_at, server.scheduler_started()) <= SWEEP + MARGIN
    server.wait_up()
    crashes += 2

    # 6. a second request; once granted (and said), the process is killed with SIGKILL from outside and
    #    stays down past the expiry: the restarted process revokes it in its first sweep (on SQLite: the
    #    database plays no other part here than above)
    checked = [rid]
    if single:
        checked.append(_killed_while_active(server, fake_slack, aws, db))
        crashes += 1
    server.stop()
    figures["crashes survived"] += crashes
    figures["restarts"] += server.boots - 1

    # reconciliation finds nothing to remove
    assert _reconcile(server, aws)[1:] == ["nothing to do: IAM matches the database"]
    assert _policies(aws) == set()

    # the audit trails are complete, ordered, each step once; each notice went out once
    expected = ["submitted", "approve", "approved", "granted", "expired", "revocation_confirmed"]
    for request_id in checked:
        trail = db.trail(request_id)
        steps = [e.action for e in trail]
        # a request whose holder had a session: it goes on record once, when a read finds it (core.sessions: the
        # poll, or the best-effort read after the revocation, whichever a crash left to run)
        assert [a for a in steps if not a.startswith("session_")] == expected, (request_id, steps)
        # the session this test opened, once each way (moto is shared by the worker's tests: another test's session
        # of the same role on web-1, started within the minute of clock skew allowed, may be on record too)
        ours = [e.action for e in trail if e.action.startswith("session_") and e.detail.get("session_id") == session]
        assert ours in ([], ["session_opened", "session_ended"]), (request_id, ours, steps)
        _ordered(trail)
        figures["audit trails checked against the expected trail"] += 1
        told = [str(c.params.get("text")) for c in fake_slack.messages(f"D{cast.ALICE}")
                if request_id in str(c.params.get("text"))]
        assert _dms(fake_slack, request_id, "granted") == 1, (request_id, told)
        assert _dms(fake_slack, request_id, "expired") == 1, (request_id, told)
    db.engine.dispose()


def _notices_owed(db: Db, request_id: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM outbox WHERE request_id = :id AND send = 'notice' "
                                     "AND state = 'due'"), {"id": request_id}).scalar_one())


def _killed_while_active(server: Server, slack: FakeSlack, aws: FakeAws, db: Db) -> str:
    other = _request(server, slack, "request web-1 3s crash test two")
    _approve(server, slack, other)
    granted = eventually(lambda: (r := db.get(other)).state is State.ACTIVE and r, timeout=15, what="grant 2")
    assert granted.expires_at is not None
    eventually(lambda: _dms(slack, other, "granted"), timeout=15, what="the requester told of grant 2")
    # and the outbox recorded it as sent: a kill between Slack's answer and that record is the one window in
    # which a message may go twice (docs/SECURITY.md), and this test is about the grant, not that window
    eventually(lambda: not _notices_owed(db, other), timeout=15, what="the grant's notice recorded as sent")
    server.kill()
    eventually(lambda: time.time() > granted.expires_at.timestamp() + 0.5, timeout=10, what="the expiry to pass")
    assert _policies(aws) == {f"jitbot-{other}"}
    server.start()
    eventually(lambda: (r := db.get(other)).state is State.EXPIRED and not r.needs_cleanup, timeout=30,
               what="the revocation after the restart")
    assert _late(db.trail(other)[-1].at.timestamp(), granted.expires_at, server.scheduler_started()) \
        <= SWEEP + MARGIN
    assert _policies(aws) == set()
    return other
