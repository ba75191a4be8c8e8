"""handlers.tell's callback URLs: jitbot answers on Slack's hooks (or the configured API's host) only.
Through the real HTTP path: ``test_an_answer_to_a_url_that_is_not_slack_is_never_sent`` (tests/reliability)."""

from __future__ import annotations

import pytest

from handlers.tell import callback_url


@pytest.mark.parametrize(("url", "api", "allowed"), [
    ("https://hooks.slack.com/commands/T1/2/abc", "https://slack.com/api/", True),
    ("https://HOOKS.slack.com:443/actions/T1/2/abc", "https://slack.com/api/", True),
    ("http://hooks.slack.com/commands/T1/2/abc", "https://slack.com/api/", False),
    ("https://hooks.slack.com:8443/commands/T1", "https://slack.com/api/", False),
    ("https://hooks.slack.com.evil.example/commands", "https://slack.com/api/", False),
    ("https://evil.example/hooks.slack.com", "https://slack.com/api/", False),
    ("https://hooks.slack.com@evil.example/x", "https://slack.com/api/", False),
    ("https://evil.example@hooks.slack.com/x", "https://slack.com/api/", False),
    ("https://slack.com/api/chat.postMessage", "https://slack.com/api/", False),
    ("https://hooks.slack.com/x\r\nHost: evil", "https://slack.com/api/", False),
    ("javascript:alert(1)", "https://slack.com/api/", False),
    ("file:///etc/passwd", "https://slack.com/api/", False),
    (42, "https://slack.com/api/", False),
    ("http://127.0.0.1:8123/response/T1/1/fake", "http://127.0.0.1:8123/api/", True),
    ("http://127.0.0.1:8124/response/T1/1/fake", "http://127.0.0.1:8123/api/", False),
    ("https://127.0.0.1:8123/response/T1/1/fake", "http://127.0.0.1:8123/api/", False),
    ("https://hooks.slack-gov.com/commands/T1/2/abc", "https://slack-gov.com/api/", True),
    ("https://hooks.slack.com/commands/T1/2/abc", "https://slack-gov.com/api/", True),
])
def test_callback_urls_must_point_at_slack(url: object, api: str, allowed: bool) -> None:
    assert (callback_url(url, api) == url) is allowed
