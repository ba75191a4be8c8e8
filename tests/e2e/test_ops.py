"""Operations surface: /healthz (liveness and readiness), /metrics, and logs that never carry secrets."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

import pytest

from bot.logs import JsonFormatter, TextFormatter, redact
from fakes import cast
from fakes.stack import Stack
from tests.helpers import eventually


def get(stack: Stack, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(stack.app_url + path, timeout=5) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_liveness_and_readiness(stack: Stack) -> None:
    status, body = get(stack, "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, body = get(stack, "/healthz?ready=1")
    detail = json.loads(body)
    assert status == 200, detail
    assert detail["database"] == "ok"
    assert detail["migrations"] == "head"
    assert detail["slack"] == "ok"
    assert detail["scheduler"]["role"] in ("single", "leader", "follower")
    # on PostgreSQL this stack wins its election within one check; on SQLite it runs the scheduler at once
    leading = eventually(lambda: (d := json.loads(get(stack, "/healthz?ready=1")[1]))["scheduler"]["running"]
                         and d, timeout=15, what="the scheduler running")
    assert leading["scheduler"]["role"] in ("single", "leader")


def test_readiness_fails_when_slack_auth_fails(stack: Stack) -> None:
    stack.shutdown_bot()
    stack.slack.fail_next("auth.test", error="invalid_auth", status=200)
    stack.boot()
    status, body = get(stack, "/healthz?ready=1")
    assert status == 503
    assert json.loads(body)["slack"].startswith("error")
    assert get(stack, "/healthz")[0] == 200  # still alive: restarting would not help


def test_metrics_follow_decisions(stack: Stack) -> None:
    stack.slash(cast.BOB, "request dev-1 30m metrics")
    stack.slash(cast.MALLORY, "request pci-db 1h metrics")
    status, body = get(stack, "/metrics")
    assert status == 200
    assert 'jitbot_requests_total{kind="auto",outcome="granted",policy="dev-self-service"} 1.0' in body
    assert 'outcome="denied",policy="contractors-off-pci"' in body
    assert "jitbot_active_grants 1.0" in body
    assert "jitbot_scheduler_job_runs_total" in body


def test_no_secret_in_health_metrics_or_logs(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stack.slash(cast.BOB, "request dev-1 30m secrets")
    secrets = ["xoxb-test-token", stack.signing_secret]
    for path in ("/healthz", "/healthz?ready=1", "/metrics"):
        body = get(stack, path)[1]
        assert not any(secret in body for secret in secrets), path
    for record in caplog.records:
        for formatter in (JsonFormatter(), TextFormatter()):
            line = formatter.format(record)
            assert "xoxb-" not in line
            assert stack.signing_secret not in line


def test_redact_removes_every_slack_token_shape() -> None:
    line = "token xoxb-1234-abcd and xapp-1-A0-99 and xoxp-7 end"
    assert redact(line) == "token [redacted] and [redacted] and [redacted] end"


def test_serve_stops_gracefully_on_sigterm(tmp_path, fake_slack, fake_aws) -> None:  # type: ignore[no-untyped-def]
    import signal
    import subprocess
    import sys

    from tests.e2e.test_replicas import Replica, free_port
    from tests.helpers import eventually, serve_env

    aws, _ = fake_aws
    port = free_port()
    env = serve_env(tmp_path, fake_slack.url, aws.env(), port, "xoxb-sigterm")
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    replica = Replica("solo", port, process)
    eventually(lambda: (replica.health() or {}).get("status") == "ok", timeout=60, what="serve ready")
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    messages = [json.loads(line)["msg"] for line in output.decode().splitlines() if line.startswith("{")]
    assert "signal received, shutting down" in messages
    assert messages[-1] == "stopped"
    assert "xoxb-sigterm" not in output.decode()
