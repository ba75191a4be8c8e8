"""Request authenticity: only requests signed by Slack with jitbot's signing secret, within five minutes of now,
reach a listener. Everything else is answered 401 (never 500, whatever the headers hold) and changes nothing:
no request, no decision, no audit event, no IAM policy, nothing shown in Slack, not even an ephemeral answer.

(tests/e2e/test_lifecycle.py has the three basic 401 cases and tests/e2e/test_ops.py the secrets in health,
metrics and logs; this extends both.)"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from bot.app import build
from bot.fakes import cast
from bot.fakes.slack_client import SlackSimulator, sign
from bot.server import HttpServer
from bot.settings import Settings
from bot.web import MAX_SLACK_BODY
from core.approvals import decide
from core.submit import RequestInput, submit
from handlers import ids
from tests.reliability.conftest import StackMaker
from tests.reliability.support import (
    RelStack,
    actions,
    answer_after,
    answers,
    assert_unchanged,
    ctx,
    get,
    policy_file,
    world,
)

FORM = "application/x-www-form-urlencoded"
LEVELS = [{"name": "SRE lead", "channel": "C0SREAPPR", "approvers": ["S0SRELEAD"], "required": 1},
          {"name": "Manager", "channel": "C0MGRAPPR", "approvers": [cast.CAROL, cast.DAVE], "required": 1}]


@pytest.fixture(scope="module")
def stack(module_stacks: StackMaker) -> RelStack:
    return module_stacks(policy_file(LEVELS))


@pytest.fixture(scope="module")
def pending(stack: RelStack) -> str:
    """A request waiting at level 2, the target of the forged clicks."""
    made = submit(ctx(stack), RequestInput(cast.ALICE, "web-1", "the target of forgeries", "1h"))
    decide(ctx(stack), made.request.id, cast.SAM, approve=True)
    return made.request.id


def _sim(stack: RelStack) -> SlackSimulator:
    assert stack.sim is not None
    return stack.sim


def _bodies(stack: RelStack, rid: str) -> dict[str, bytes]:
    """A slash command, a button click and a modal submission, exactly as Slack would send them."""
    sim = _sim(stack)
    command = urlencode({"token": "x", "team_id": sim.team_id, "channel_id": "C0GENERAL1", "user_id": cast.ALICE,
                         "command": "/jit", "text": "request web-1 1h forged",
                         "response_url": stack.slack.make_response_url(), "trigger_id": sim.new_trigger_id()})
    click = {"type": "block_actions", "user": {"id": cast.CAROL}, "team": {"id": sim.team_id},
             "api_app_id": sim.api_app_id, "trigger_id": sim.new_trigger_id(),
             "response_url": stack.slack.make_response_url(), "channel": {"id": "C0MGRAPPR"},
             "actions": [{"action_id": ids.APPROVE, "block_id": "b", "value": rid, "type": "button",
                          "action_ts": f"{time.time():.6f}"}]}
    view = {"type": "view_submission", "user": {"id": cast.DAVE}, "team": {"id": sim.team_id},
            "api_app_id": sim.api_app_id, "trigger_id": sim.new_trigger_id(),
            "view": {"id": "VFORGED", "type": "modal", "callback_id": ids.REJECT_VIEW,
                     "private_metadata": json.dumps({"id": rid, "response_url": stack.slack.make_response_url()}),
                     "state": {"values": {ids.REASON_BLOCK: {ids.REASON_INPUT: {
                         "type": "plain_text_input", "value": "forged rejection"}}}}}}
    return {"command": command.encode(),
            "click": urlencode({"payload": json.dumps(click)}).encode(),
            "view": urlencode({"payload": json.dumps(view)}).encode()}


def _headers(secret: str, timestamp: int | str, body: bytes, **extra: str) -> dict[str, str]:
    return {"Content-Type": FORM, "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": sign(secret, timestamp, body), **extra}


def _forgeries(secret: str) -> dict[str, Callable[[bytes], tuple[bytes, dict[str, str]]]]:
    """Each way to get the signature wrong: (body, headers) to send for a genuine body. Times are taken when
    each forgery is made, just before it is sent (a slow run must not drift into the five-minute window)."""

    def now() -> int:
        return int(time.time())

    def signed(body: bytes, timestamp: int | str | None = None, key: str = secret) -> dict[str, str]:
        return _headers(key, now() if timestamp is None else timestamp, body)

    def without(*names: str) -> Callable[[bytes], tuple[bytes, dict[str, str]]]:
        return lambda body: (body, {k: v for k, v in signed(body).items() if k not in names})

    def replaced(**values: str) -> Callable[[bytes], tuple[bytes, dict[str, str]]]:
        return lambda body: (body, {**signed(body), **values})

    def replayed(body: bytes) -> tuple[bytes, dict[str, str]]:
        old = now() - 3600  # captured an hour ago: a fresh timestamp with the old signature
        return body, {**signed(body, old), "X-Slack-Request-Timestamp": str(now())}

    def tampered(body: bytes) -> tuple[bytes, dict[str, str]]:
        return body + b"&user_id=U0DAVE001", signed(body)  # signed, then changed

    def oversized(body: bytes) -> tuple[bytes, dict[str, str]]:
        padded = body + b"&pad=" + b"x" * MAX_SLACK_BODY  # even correctly signed: never read
        return padded, signed(padded)

    def v1(body: bytes) -> tuple[bytes, dict[str, str]]:
        headers = signed(body)
        return body, {**headers, "X-Slack-Signature": headers["X-Slack-Signature"].replace("v0=", "v1=")}

    return {
        "unsigned": without("X-Slack-Signature", "X-Slack-Request-Timestamp"),
        "no signature": without("X-Slack-Signature"),
        "no timestamp": without("X-Slack-Request-Timestamp"),
        "garbage signature": replaced(**{"X-Slack-Signature": "v0=" + "0" * 64}),
        "other secret": lambda body: (body, signed(body, key="another-apps-secret")),
        "empty-secret signature": lambda body: (body, signed(body, key="")),
        "v1 scheme": v1,
        "older than 5 minutes": lambda body: (body, signed(body, now() - 301)),
        "an hour old": lambda body: (body, signed(body, now() - 3600)),
        "in the future": lambda body: (body, signed(body, now() + 301)),
        "replayed with a new timestamp": replayed,
        "tampered body": tampered,
        "timestamp not a number": lambda body: (body, signed(body, "12ab")),
        "timestamp empty": replaced(**{"X-Slack-Request-Timestamp": ""}),
        "timestamp huge": lambda body: (body, signed(body, "9" * 40)),
        "non-ASCII signature": replaced(**{"X-Slack-Signature": "v0=\u00e9" * 20}),
        "non-UTF-8 body": lambda body: (body + b"\xff\xfe", signed(body)),
        "oversized body": oversized,
    }


def _post(stack: RelStack, body: bytes, headers: dict[str, str]) -> int:
    return _sim(stack).raw(body, headers).status


def test_every_forgery_is_refused_with_401_and_changes_nothing(stack: RelStack, pending: str,
                                                               figures: Counter[str]) -> None:
    before = world(stack)
    answered = len(answers(stack))
    statuses: dict[str, int] = {}
    for kind, body in _bodies(stack, pending).items():
        for name, forge in _forgeries(stack.signing_secret).items():
            statuses[f"{kind}: {name}"] = _post(stack, *forge(body))
            figures["requests: authenticity (forged)"] += 1
    wrong = {case: status for case, status in statuses.items() if status != (413 if "oversized" in case else 401)}
    assert not wrong, f"answered otherwise than 401: {wrong}"
    assert_unchanged(stack, before, "a forged request")
    assert len(answers(stack)) == answered, "a forged request got an answer"
    assert get(stack, pending).current_level == 1 and get(stack, pending).state.value == "pending"


def test_a_replay_inside_the_window_is_only_a_repeated_click(stack: RelStack, pending: str,
                                                             figures: Counter[str]) -> None:
    """Slack's scheme cannot tell a copy sent within five minutes from the original, so the lifecycle must:
    the replayed approval is refused as a second decision by the same person, and nothing changes."""
    body = _bodies(stack, pending)["click"]
    headers = _headers(stack.signing_secret, int(time.time()), body)
    before = len(answers(stack))
    assert _post(stack, body, headers) == 200
    assert "access was granted" in answer_after(stack, before)
    figures["requests: authenticity (replayed)"] += 1
    snapshot = world(stack)
    for _ in range(3):
        before = len(answers(stack))
        assert _post(stack, body, headers) == 200
        assert "already" in answer_after(stack, before)
        figures["requests: authenticity (replayed)"] += 1
    assert_unchanged(stack, snapshot, "a replayed click")
    assert actions(stack, pending).count("approve") == 2  # SAM at level 1, CAROL's one click at level 2


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_health_and_metrics_tell_nothing_about_people_grants_or_forgeries(stack: RelStack, pending: str,
                                                                          figures: Counter[str]) -> None:
    secrets = ["xoxb-test-token", stack.signing_secret, "the target of forgeries", "forged", cast.ALICE, cast.CAROL,
               "rel-alice", "arn:aws:iam", stack.nodes["web-1"], "web-1", pending, "testing", str(stack.workdir)]
    for path in ("/healthz", "/healthz?ready=1", "/metrics"):
        status, body = _get(stack.app_url + path)
        figures["requests: authenticity (health, metrics)"] += 1
        assert status == 200, (path, body)
        leaked = [s for s in secrets if s in body]
        assert not leaked, f"{path} shows {leaked}"
    for path, method in (("/slack/events", "GET"), ("/admin", "GET"), ("/metrics", "POST"), ("/healthz", "DELETE")):
        request = urllib.request.Request(stack.app_url + path, method=method,  # noqa: S310 - loopback
                                         data=b"" if method != "GET" else None)
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
                status = answer.status
        except urllib.error.HTTPError as err:
            status = err.code
        figures["requests: authenticity (health, metrics)"] += 1
        assert status in (404, 405), (path, method, status)


def test_readiness_with_a_broken_database_names_no_credentials(tmp_path: Any, caplog: pytest.LogCaptureFixture,
                                                               figures: Counter[str]) -> None:
    """The database's address and password stay out of /healthz, /metrics and the logs when it is down."""
    caplog.set_level(logging.DEBUG)
    password = "s3cret-db-password"
    policies = tmp_path / "policies.toml"
    policies.write_text(policy_file(LEVELS), "utf-8")
    settings = Settings(slack_bot_token=SecretStr("xoxb-test-token"), slack_signing_secret=SecretStr("s"),
                        slack_api_url="http://127.0.0.1:9/api/", jit_policies=str(policies),
                        database_url=f"postgresql+psycopg://jitbot:{password}@127.0.0.1:9/jitbot",
                        aws_region="us-east-1")
    runtime = build(settings, aws=lambda s, p: object(), migrate=False)
    server = HttpServer(runtime, "127.0.0.1", 0, threads=2).start()
    try:
        for path in ("/healthz?ready=1", "/metrics"):
            status, body = _get(f"http://127.0.0.1:{server.port}{path}")
            figures["requests: authenticity (health, metrics)"] += 1
            assert password not in body and "jitbot:" not in body, (path, body)
            if path.startswith("/healthz"):
                assert status == 503 and json.loads(body)["database"].startswith("error: ")
    finally:
        server.stop()
        runtime.engine.dispose()
    assert not [r for r in caplog.records if password in r.getMessage() or password in str(r.__dict__)]
