"""The policy file's routing keys: escalation (``escalate_after``, ``escalate_to``, ``escalate_channel``), each
validated with an error located at the level or the key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.policy import parse_policies
from tests.core.test_policy_loader import level, manual, only_error

WHERE = "manual_approval[0].levels[0]"


def test_escalation_parses() -> None:
    text = manual("p", levels=level(extra='escalate_after = "30m"\nescalate_to = ["U0CAROL01", "S0MANAGERS"]\n'
                                          'escalate_channel = "C0MGRAPPR"'))
    parsed = parse_policies(text).manual_approval[0].levels[0]
    assert (parsed.escalate_after, parsed.escalate_to, parsed.escalate_channel) == (
        timedelta(minutes=30), ("U0CAROL01", "S0MANAGERS"), "C0MGRAPPR")


@pytest.mark.parametrize(("extra", "error"), [
    ('escalate_after = "30m"', f"{WHERE}: escalate_after needs escalate_to"),
    ('escalate_to = ["U0CAROL01"]', f"{WHERE}: escalate_to needs escalate_after"),
    ('escalate_channel = "C0MGRAPPR"', f"{WHERE}: escalate_channel needs escalate_after and escalate_to"),
    ('escalate_after = "soon"\nescalate_to = ["U0CAROL01"]', f"{WHERE}.escalate_after: "),
    ('escalate_after = "30m"\nescalate_to = []', f"{WHERE}.escalate_to: is empty"),
    ('escalate_after = "30m"\nescalate_to = ["carol"]', f"{WHERE}.escalate_to: 'carol' is not a Slack user id"),
    ('escalate_after = "30m"\nescalate_to = ["U0CAROL01", "U0CAROL01"]', f"{WHERE}.escalate_to: lists the same id"),
    ('escalate_after = "30m"\nescalate_to = ["U0CAROL01"]\nescalate_channel = "general"',
     f"{WHERE}.escalate_channel: 'general' is not a Slack channel id"),
])
def test_escalation_errors_are_located(extra: str, error: str) -> None:
    assert only_error(manual("p", levels=level(extra=extra))).startswith(error)


def test_an_escalation_later_than_the_approval_timeout_is_refused() -> None:
    """The request would time out first: the fallback approvers would never be asked."""
    text = ('[settings]\napproval_timeout = "1h"\n\n'
            + manual("p", levels=level(extra='escalate_after = "2h"\nescalate_to = ["U0CAROL01"]')))
    error = only_error(text)
    assert "manual_approval[0] ('p').levels[0].escalate_after (2h) is not shorter than settings.approval_timeout " \
           "(1h)" in error, error
    assert parse_policies(text.replace('"2h"', '"30m"')).manual_approval[0].levels[0].escalate_after == \
        timedelta(minutes=30)
