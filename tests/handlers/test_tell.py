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


@pytest.mark.parametrize(("url", "allowed"), [
    ("http://127.0.0.1:9000/response/T1/1/fake", True),  # SLACK_HOOKS_URL's origin
    ("http://127.0.0.1:9001/response/T1/1/fake", False),  # another port of the same host
    ("https://127.0.0.1:9000/response/T1/1/fake", False),  # another scheme
    ("http://127.0.0.1:8123/response/T1/1/fake", True),  # SLACK_API_URL's origin still
    ("https://hooks.slack.com/commands/T1/2/abc", True),
])
def test_a_configured_hooks_origin_is_the_one_more_address_allowed(url: str, allowed: bool) -> None:
    assert (callback_url(url, "http://127.0.0.1:8123/api/", "http://127.0.0.1:9000") == url) is allowed
    assert callback_url("http://127.0.0.1:9000/x", "https://slack.com/api/") is None  # unset: not allowed
