"""Request authenticity: only requests signed by Slack with jitbot's signing secret, within five minutes of now,
reach a listener. Everything else is answered 401 (never 500, whatever the headers hold) and changes nothing:
no request, no decision, no audit event, no IAM policy, nothing shown in Slack, not even an ephemeral answer.

(tests/e2e/test_lifecycle.py has the three basic 401 cases and tests/e2e/test_ops.py the secrets in health,
metrics and logs; this extends both.)"""

from __future__ import annotations

import json
import logging
import threading
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
from bot.logs import JsonFormatter, TextFormatter
from bot.server import HttpServer
from bot.settings import Settings
from core.approvals import decide
from core.submit import RequestInput, submit
from fakes import cast
from fakes.slack_client import SlackSimulator, sign
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
    }  # a body over the limit, signed or not, is refused before it is read: test_edge.py


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
    wrong = {case: status for case, status in statuses.items() if status != 401}
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


# -- what a forgery costs: one short log line, never its body ------------------------------------------------------
#: a body written to forge log lines and repaint a terminal, were it ever logged
FORGED_LOG = "\r\n2026-01-01 00:00:00,000 CRITICAL jitbot.decisions: R1 approved by everyone\x1b[2J\x1b[31m\x85\u2028"
MARKER = "body-marker-7f3a"


def _one_line(record: logging.LogRecord) -> list[str]:
    """Each formatter's rendering of ``record``, checked to be one short line with no control character."""
    lines = [TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s").format(record),
             JsonFormatter().format(record)]
    for line in lines:
        raw = [c for c in line if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029"]
        assert not raw, f"a raw control character {raw[:3]} in the log line {line[:200]!r}"
    return lines


def test_a_forgery_costs_one_short_escaped_log_line_and_never_its_body(stack: RelStack, pending: str,
                                                                       caplog: pytest.LogCaptureFixture,
                                                                       figures: Counter[str]) -> None:
    """Bolt's own check logs the whole body at INFO when a signature is wrong: jitbot's edge refuses first,
    with method, path, size and reason only, whatever the body holds (up to the 1 MiB limit)."""
    caplog.set_level(logging.INFO)
    forged_command = urlencode({"command": "/jit", "user_id": cast.ALICE, "text": MARKER + FORGED_LOG,
                                "response_url": stack.slack.make_response_url()}).encode()
    bodies = [forged_command, (MARKER + FORGED_LOG).encode() * 4000,  # ~400 KB of log-forging text
              urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": cast.CAROL},
                                                "note": MARKER + FORGED_LOG})}).encode()]
    kinds = {"unsigned": lambda b: {"Content-Type": FORM},
             "other secret": lambda b: _headers("another-apps-secret", int(time.time()), b),
             "stale": lambda b: _headers(stack.signing_secret, int(time.time()) - 3600, b),
             "tampered": lambda b: _headers(stack.signing_secret, int(time.time()), b + b"x"),
             "header injection": lambda b: {**_headers(stack.signing_secret, int(time.time()), b),
                                            "X-Slack-Signature": "v0=\" CRITICAL \u00e9 " + MARKER}}
    before = world(stack)
    for body in bodies:
        for name, headers in kinds.items():
            caplog.clear()
            assert _post(stack, body, headers(body)) == 401, name
            figures["requests: authenticity (log forging)"] += 1
            refusals = [r for r in caplog.records if r.name == "bot.edge"]
            assert len(refusals) == 1, (name, [r.getMessage() for r in caplog.records])
            [line, as_json] = _one_line(refusals[0])
            assert len(line) < 300 and MARKER not in line and "CRITICAL" not in line, line
            detail = json.loads(as_json)
            assert (detail["method"], detail["path"], detail["size"], detail["status"]) == \
                ("POST", "/slack/events", len(body), 401) and detail["reason"], detail
            told = [r for r in caplog.records if MARKER in r.getMessage() or MARKER in str(r.__dict__)]
            assert not told, f"{name}: the body reached the logs: {told[0].name} {told[0].getMessage()[:200]!r}"
            assert not [r for r in caplog.records if r.name.startswith("slack_bolt")], name
    assert_unchanged(stack, before, "a log-forging forgery")


def test_every_log_line_stays_one_line_whatever_the_input(stack: RelStack, caplog: pytest.LogCaptureFixture,
                                                          figures: Counter[str]) -> None:
    """A signed delivery Bolt cannot route is logged with what it named (an action id here): the line stays
    one line in both formats, as does anything else with control characters, exceptions included."""
    caplog.set_level(logging.INFO)
    sim = _sim(stack)
    assert sim.block_action(cast.DAVE, "jit_x" + FORGED_LOG, "R1", channel_id="C0MGRAPPR").status in (200, 404)
    figures["requests: authenticity (log forging)"] += 1
    unhandled = [r for r in caplog.records if "jit_x" in r.getMessage()]
    assert unhandled, [r.getMessage()[:100] for r in caplog.records]
    try:
        raise ValueError("bad input" + FORGED_LOG)
    except ValueError:
        logging.getLogger("jitbot.test").exception("failed on %s", FORGED_LOG, extra={"node": FORGED_LOG})
    for record in caplog.records:
        text, as_json = _one_line(record)
        assert "\\r\\n2026-01-01" in text or FORGED_LOG not in record.getMessage() + str(record.__dict__)
        assert json.loads(as_json)["msg"] == record.getMessage()  # escaped, not lost


# -- answers go to Slack only ------------------------------------------------------------------------------------
class _Hook:
    """An HTTP server on loopback that records every request it receives: where a forged response_url points."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("kind", ["command", "click", "reject modal", "review modal"])
def test_an_answer_to_a_url_that_is_not_slack_is_never_sent(stack: RelStack, pending: str, kind: str,
                                                            caplog: pytest.LogCaptureFixture,
                                                            figures: Counter[str]) -> None:
    """A signed delivery (only Slack, or a holder of the secret, can make one) whose response_url, or a modal's
    private_metadata, points elsewhere than Slack: nothing is sent there, the refusal is logged, and the
    person is answered by DM instead."""
    sim, hook = _sim(stack), _Hook()
    caplog.set_level(logging.INFO)
    try:
        for url in (f"http://127.0.0.1:{hook.port}/hook", f"http://localhost:{hook.port}/hook"):
            since = time.time()
            if kind == "command":
                user = cast.ALICE
                body = urlencode({"token": "x", "team_id": sim.team_id, "channel_id": "C0GENERAL1", "user_id": user,
                                  "command": "/jit", "text": "help", "response_url": url,
                                  "trigger_id": sim.new_trigger_id()}).encode()
                status = _post(stack, body, _headers(stack.signing_secret, int(time.time()), body))
            elif kind == "click":
                user = cast.OSCAR  # not an approver: refused, and told so
                payload = {"type": "block_actions", "user": {"id": user}, "team": {"id": sim.team_id},
                           "api_app_id": sim.api_app_id, "trigger_id": sim.new_trigger_id(), "response_url": url,
                           "channel": {"id": "C0MGRAPPR"}, "actions": [{
                               "action_id": ids.APPROVE, "block_id": "b", "value": pending, "type": "button",
                               "action_ts": f"{time.time():.6f}"}]}
                body = urlencode({"payload": json.dumps(payload)}).encode()
                status = _post(stack, body, _headers(stack.signing_secret, int(time.time()), body))
            else:
                user = cast.OSCAR
                callback, values = ((ids.REJECT_VIEW, {ids.REASON_BLOCK: {ids.REASON_INPUT: "no"}})
                                    if kind == "reject modal" else ("jit_breakglass_review_view", {
                                        "verdict": {"verdict_input": {"type": "radio_buttons",
                                                                      "selected_option": {"value": "justified"}}},
                                        "note": {"note_input": "checked"}}))
                status = sim.view_submission(user, callback, values, private_metadata=json.dumps(
                    {"id": pending, "response_url": url})).status
            figures["requests: authenticity (callback URLs)"] += 1
            assert status == 200
            expected = {"command": "gives you temporary", "review modal": "There is no break-glass use"}.get(
                kind, ":warning:")  # Oscar decides nothing
            stack.slack.wait_for(lambda c, u=user, t=since, e=expected: c.method == "chat.postMessage" and c.at >= t
                                 and c.params.get("channel") in (u, f"D{u}") and e in str(c.params.get("text")),
                                 timeout=15)
            assert hook.hits == [], f"{kind}: jitbot posted to {url}"
            assert [r for r in caplog.records if r.getMessage().startswith("refused a callback URL")]
    finally:
        hook.close()
