"""The fake Slack Web API and the Slack request simulator, exercised with the real slack_sdk."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier

from fakes.slack_api import FakeSlack, RecordedCall
from fakes.slack_client import SlackSimulator

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"
SECTION = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]
MODAL = {"type": "modal", "callback_id": "request", "title": {"type": "plain_text", "text": "Request"}}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


def client_for(fake: FakeSlack, **kwargs: Any) -> WebClient:
    return WebClient(
        token=TOKEN, base_url=fake.url, retry_handlers=kwargs.pop("retry_handlers", []), **kwargs
    )


# --------------------------------------------------------------------------- Web API round trips


def test_auth_test_and_url(fake: FakeSlack) -> None:
    assert fake.url == f"http://127.0.0.1:{fake.port}/api/"
    answer = client_for(fake).auth_test()
    assert answer["user_id"] == "UJITBOT"
    assert answer["team_id"] == "T0JITBOT"
    assert answer["bot_id"] == "BJITBOT"
    call = fake.wait_for("auth.test")
    assert call.token == TOKEN
    assert call.ok


def test_post_update_ephemeral_permalink(fake: FakeSlack) -> None:
    client = client_for(fake)
    first = client.chat_postMessage(channel="C0SREAPPR", text="approve?", blocks=SECTION)
    reply = client.chat_postMessage(channel="C0SREAPPR", text="reply", thread_ts=first["ts"])
    assert first["channel"] == "C0SREAPPR"
    assert first["message"]["blocks"] == SECTION
    assert float(reply["ts"]) > float(first["ts"])
    assert reply["message"]["thread_ts"] == first["ts"]

    updated = client.chat_update(channel="C0SREAPPR", ts=first["ts"], text="approved", blocks=[])
    assert updated["ts"] == first["ts"]
    stored = fake.message("C0SREAPPR", first["ts"])
    assert stored is not None
    assert stored["text"] == "approved"
    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel="C0SREAPPR", ts="1.000000", text="x")
    assert missing.value.response["error"] == "message_not_found"

    ephemeral = client.chat_postEphemeral(channel="C0GENERAL1", user="U0ALICE01", text="only you")
    assert ephemeral["message_ts"]
    link = client.chat_getPermalink(channel="C0SREAPPR", message_ts=first["ts"])
    assert link["permalink"].endswith("/archives/C0SREAPPR/p" + first["ts"].replace(".", ""))

    assert [c.params["text"] for c in fake.messages("C0SREAPPR")] == ["approve?", "reply"]
    assert fake.messages("C0OTHER01") == []
    assert [c.method for c in fake.calls][-2:] == ["chat.postEphemeral", "chat.getPermalink"]


def test_dm_channel_and_conversation_info(fake: FakeSlack) -> None:
    client = client_for(fake)
    assert client.conversations_open(users="U0ALICE01")["channel"]["id"] == "DU0ALICE01"
    assert client.conversations_open(users=["U0ALICE01"])["channel"]["id"] == "DU0ALICE01"
    posted = client.chat_postMessage(channel="U0ALICE01", text="your access is ready")
    assert posted["channel"] == "DU0ALICE01"
    assert len(fake.messages("DU0ALICE01")) == 1

    fake.set_not_member("C0MGRAPPR")
    assert client.conversations_info(channel="C0SREAPPR")["channel"]["is_member"] is True
    assert client.conversations_info(channel="C0MGRAPPR")["channel"]["is_member"] is False
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0MGRAPPR", text="hello?")
    assert refused.value.response["error"] == "not_in_channel"


def test_users_and_groups(fake: FakeSlack) -> None:
    fake.add_user("U0ALICE01", email="alice@example.com", name="alice", title="SRE")
    fake.add_user("U0GHOST01", email="ghost@example.com", deleted=True)
    fake.add_group("S0SRELEAD", ["U0SAM0001", "U0TINA001"])
    client = client_for(fake)

    alice = client.users_info(user="U0ALICE01")["user"]
    assert alice["profile"]["email"] == "alice@example.com"
    assert alice["profile"]["title"] == "SRE"
    assert alice["deleted"] is False
    assert client.users_info(user="U0GHOST01")["user"]["deleted"] is True
    with pytest.raises(SlackApiError) as unknown:
        client.users_info(user="U0NOBODY1")
    assert unknown.value.response["error"] == "user_not_found"

    assert client.users_lookupByEmail(email="ALICE@example.com")["user"]["id"] == "U0ALICE01"
    with pytest.raises(SlackApiError) as nobody:
        client.users_lookupByEmail(email="nobody@example.com")
    assert nobody.value.response["error"] == "users_not_found"

    assert client.usergroups_users_list(usergroup="S0SRELEAD")["users"] == ["U0SAM0001", "U0TINA001"]
    with pytest.raises(SlackApiError) as no_group:
        client.usergroups_users_list(usergroup="S0MISSING")
    assert no_group.value.response["error"] == "no_such_subteam"


def test_users_report_their_standing_like_slack(fake: FakeSlack) -> None:
    """``users.info`` says what jitbot needs to trust an email: confirmed, guest, team, stranger; and the Directory
    adapter reads it so."""
    from core.identity import email_doubt
    from handlers.directory import SlackDirectory

    fake.add_user("U0FULL001", email="full@example.com")
    fake.add_user("U0UNCONF1", email="unconf@example.com", email_confirmed=False)
    fake.add_user("U0GUEST01", email="guest@example.com", is_ultra_restricted=True)
    fake.add_user("U0OTHER01", email="other@partner.example", team_id="T0PARTNER")
    fake.add_user("U0STRANGE", email="stranger@partner.example", team_id="T0PARTNER", is_stranger=True)
    client = client_for(fake)
    full = client.users_info(user="U0FULL001")["user"]
    assert full["is_email_confirmed"] is True and full["team_id"] == fake.team_id and "is_stranger" not in full
    assert full["is_restricted"] is False and full["is_ultra_restricted"] is False
    guest = client.users_info(user="U0GUEST01")["user"]
    assert guest["is_restricted"] is True and guest["is_ultra_restricted"] is True  # as Slack sends them
    assert client.users_info(user="U0STRANGE")["user"]["is_stranger"] is True

    directory = SlackDirectory(client)
    people = ("U0FULL001", "U0UNCONF1", "U0GUEST01", "U0OTHER01", "U0STRANGE")
    doubts = {u: str(doubt) if (doubt := email_doubt(directory.user(u))) else None for u in people}
    assert doubts == {
        "U0FULL001": None,
        "U0UNCONF1": "Slack has not confirmed that you control unconf@example.com",
        "U0GUEST01": "your Slack account is a guest account, not a full member of this workspace",
        "U0OTHER01": "your Slack account belongs to another organisation (Slack Connect or external), not this "
                     "workspace",
        "U0STRANGE": "your Slack account belongs to another organisation (Slack Connect or external), not this "
                     "workspace",
    }
    assert len(fake.calls_to("auth.test")) == 1  # the app's own team, asked once


def test_views(fake: FakeSlack) -> None:
    client = client_for(fake)
    with pytest.raises(SlackApiError) as no_trigger:
        client.api_call("views.open", json={"view": MODAL})
    assert no_trigger.value.response["error"] == "invalid_arguments"

    opened = client.views_open(trigger_id="1.2.abc", view=MODAL)["view"]
    assert opened["id"]
    assert opened["callback_id"] == "request"
    pushed = client.views_push(trigger_id="1.2.abc", view=MODAL)["view"]
    assert pushed["id"] != opened["id"]
    updated = client.views_update(view_id=opened["id"], view={**MODAL, "private_metadata": "r-1"})["view"]
    assert updated["id"] == opened["id"]
    assert updated["private_metadata"] == "r-1"
    with pytest.raises(SlackApiError) as unknown:
        client.views_update(view_id="V0NOPE", view=MODAL)
    assert unknown.value.response["error"] == "not_found"

    home = {"type": "home", "blocks": SECTION}
    first = client.views_publish(user_id="U0ALICE01", view=home)["view"]
    again = client.views_publish(user_id="U0ALICE01", view=home)["view"]
    assert first["id"] == again["id"]
    assert fake.home_view("U0ALICE01") is not None
    assert fake.calls_to("views.open")[-1].params["view"] == MODAL


def test_form_encoded_body_and_unknown_method(fake: FakeSlack) -> None:
    client = client_for(fake)
    client.api_call("chat.postMessage", params={"channel": "C1", "blocks": json.dumps(SECTION), "text": "t"})
    call = fake.wait_for("chat.postMessage")
    assert call.params["blocks"] == SECTION
    assert call.token == TOKEN
    assert "token" not in call.params

    with pytest.raises(SlackApiError) as unknown:
        client.api_call("reactions.add", json={"name": "eyes"})
    assert unknown.value.response["error"] == "unknown_method"


def test_authentication_errors() -> None:
    with FakeSlack(token=TOKEN) as slack:
        with pytest.raises(SlackApiError) as missing:
            WebClient(base_url=slack.url, retry_handlers=[]).auth_test()
        assert missing.value.response["error"] == "not_authed"
        with pytest.raises(SlackApiError) as wrong:
            WebClient(token="xoxb-other", base_url=slack.url, retry_handlers=[]).auth_test()
        assert wrong.value.response["error"] == "invalid_auth"
        assert WebClient(token=TOKEN, base_url=slack.url).auth_test()["ok"] is True


def test_custom_handler(fake: FakeSlack) -> None:
    fake.set_handler("reactions.add", lambda params: {"echo": params["name"]})
    assert client_for(fake).api_call("reactions.add", json={"name": "eyes"})["echo"] == "eyes"


# --------------------------------------------------------------------------- faults


def test_rate_limit_then_success_with_retry_handler(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", retry_after=0)
    client = client_for(fake, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    answer = client.chat_postMessage(channel="C1", text="hello")
    assert answer["ok"] is True
    attempts = fake.calls_to("chat.postMessage", include_faults=True)
    assert [(c.status, c.fault) for c in attempts] == [(429, "429"), (200, None)]
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_rate_limit_without_retry_surfaces_retry_after(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        client_for(fake).chat_postMessage(channel="C1", text="hello")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert limited.value.response["error"] == "ratelimited"


def test_error_answers_and_server_errors(fake: FakeSlack) -> None:
    client = client_for(fake)
    fake.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as failed:
        client.chat_postMessage(channel="C1", text="x")
    assert failed.value.response.status_code == 200
    assert failed.value.response["error"] == "channel_not_found"

    fake.fail_next("*", status=503)
    with pytest.raises(SlackApiError) as unavailable:
        client.auth_test()
    assert unavailable.value.response.status_code == 503
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    assert [c.fault for c in fake.calls] == ["error:channel_not_found", "503", None]


def test_connection_reset_retried(fake: FakeSlack) -> None:
    fake.reset_connections("users.info")
    fake.add_user("U0ALICE01")
    retry = ConnectionErrorRetryHandler(
        max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
    )
    client = client_for(fake, retry_handlers=[retry])
    assert client.users_info(user="U0ALICE01")["user"]["id"] == "U0ALICE01"
    assert [c.status for c in fake.calls_to("users.info", include_faults=True)] == [0, 200]

    fake.reset_connections("users.info")
    with pytest.raises(ConnectionError):
        client_for(fake).users_info(user="U0ALICE01")


def test_delay_applies_to_answers(fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("fakes.slack_api.time.sleep", slept.append)
    fake.delay = 0.25
    client_for(fake).auth_test()
    assert slept == [0.25]


# --------------------------------------------------------------------------- recording helpers


def test_wait_for_waits_and_times_out_with_summary(fake: FakeSlack) -> None:
    client = client_for(fake)
    threading.Timer(0.1, lambda: client.chat_postMessage(channel="C0LATE0001", text="late")).start()
    call = fake.wait_for(lambda c: c.method == "chat.postMessage" and c.params["channel"] == "C0LATE0001")
    assert call.params["text"] == "late"

    client.auth_test()
    with pytest.raises(AssertionError) as timed_out:
        fake.wait_for("views.open", timeout=0.2)
    message = str(timed_out.value)
    assert "'views.open'" in message
    assert "chat.postMessage(channel='C0LATE0001'" in message
    assert "auth.test() -> ok" in message

    fake.clear()
    assert fake.calls == []
    with pytest.raises(AssertionError, match="no calls were recorded"):
        fake.wait_for("auth.test", timeout=0.01)


def test_response_url_posts_are_recorded(fake: FakeSlack) -> None:
    url = fake.make_response_url()
    assert url != fake.make_response_url()
    body = json.dumps({"text": "Request r-1 submitted", "response_type": "ephemeral"}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
        assert answer.status == 200
    call: RecordedCall = fake.wait_for("response_url")
    assert call.params["text"] == "Request r-1 submitted"
    assert url.endswith(call.path)


# --------------------------------------------------------------------------- the simulator


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def app() -> Iterator[Recorder]:
    """A stand-in for the app: records each request and answers `status` with a small JSON body."""
    recorder = Recorder(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            recorder.received.append(Received(self.path, dict(self.headers.items()), body))
            answer = json.dumps({"seen": len(recorder.received)}).encode()
            self.send_response(recorder.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()


def payload_of(received: Received) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(parse_qs(received.body.decode())["payload"][0])
    return result


def test_simulator_signs_like_slack(app: Recorder, fake: FakeSlack) -> None:
    fake.add_user("U0ALICE01", name="alice")
    sim = SlackSimulator(app.url, SECRET, fake)
    verifier = SignatureVerifier(SECRET)

    answer = sim.command("U0ALICE01", "request web-1 2h disk full")
    assert answer.status == 200
    assert answer.json() == {"seen": 1}
    sent = app.received[-1]
    assert sent.path == "/slack/events"
    assert verifier.is_valid_request(sent.body, sent.headers)
    form = {k: v[0] for k, v in parse_qs(sent.body.decode()).items()}
    assert form["command"] == "/jit"
    assert form["text"] == "request web-1 2h disk full"
    assert form["user_id"] == "U0ALICE01"
    assert form["user_name"] == "alice"
    assert form["channel_id"] == "C0GENERAL1"
    assert form["team_id"] == fake.team_id
    assert form["response_url"].startswith(fake.base_url + "/response/")
    assert form["trigger_id"]

    posted = client_for(fake).chat_postMessage(channel="C0SREAPPR", text="approve?", blocks=SECTION)
    sim.block_action("U0SAM0001", "approve", "r-1", channel_id="C0SREAPPR", message_ts=posted["ts"])
    action = payload_of(app.received[-1])
    assert verifier.is_valid_request(app.received[-1].body, app.received[-1].headers)
    assert action["type"] == "block_actions"
    assert action["user"]["id"] == "U0SAM0001"
    assert action["actions"][0] | {"action_ts": None} == {
        "action_id": "approve",
        "block_id": "b",
        "value": "r-1",
        "type": "button",
        "text": {"type": "plain_text", "text": "r-1", "emoji": True},
        "action_ts": None,
    }
    assert action["message"]["blocks"] == SECTION
    assert action["container"]["message_ts"] == posted["ts"]

    sim.view_submission("U0ALICE01", "request", {"node": {"node_input": "web-1"}}, private_metadata="m")
    submission = payload_of(app.received[-1])
    assert submission["view"]["callback_id"] == "request"
    assert submission["view"]["private_metadata"] == "m"
    assert submission["view"]["state"]["values"]["node"]["node_input"]["value"] == "web-1"

    sim.block_suggestion("U0ALICE01", "node_select", "we")
    sim.shortcut("U0ALICE01", "jit_request", "1.2.abc")
    sim.event({"type": "app_home_opened", "user": "U0ALICE01", "tab": "home"})
    kinds = [payload_of(r)["type"] for r in app.received[-3:-1]]
    assert kinds == ["block_suggestion", "shortcut"]
    event = json.loads(app.received[-1].body)
    assert event["type"] == "event_callback"
    assert event["event"]["type"] == "app_home_opened"
    assert all(verifier.is_valid_request(r.body, r.headers) for r in app.received)


def test_simulator_forged_requests_and_error_statuses(app: Recorder) -> None:
    sim = SlackSimulator(app.url, SECRET)
    verifier = SignatureVerifier(SECRET)

    sim.command("U0ALICE01", "help", secret="wrong-secret")
    assert not verifier.is_valid_request(app.received[-1].body, app.received[-1].headers)
    assert "response_url" not in parse_qs(app.received[-1].body.decode())
    sim.command("U0ALICE01", "help", timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(app.received[-1].body, app.received[-1].headers)

    app.status = 401
    answer = sim.raw(b"token=x", {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 401
    assert answer.json() == {"seen": 3}
    assert "X-Slack-Signature" not in app.received[-1].headers
