"""``[events]`` of the policy file (issue 19, item 3): an EventBridge bus ARN and/or a webhook URL, strictly
checked, each error located; and the event detail every sink receives (docs/events.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import events
from core.model import State
from core.policy.loader import PolicyError, parse_policies
from tests.fakes_core import T0, FakeWorld

BUS = "arn:aws:events:eu-west-1:111122223333:event-bus/security"


def _errors(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policies(text)
    return caught.value.errors


def test_a_bus_a_webhook_or_both() -> None:
    assert parse_policies(f'[events]\neventbridge_bus = "{BUS}"\n').events.eventbridge_bus == BUS  # type: ignore[union-attr]
    both = parse_policies(f'[events]\neventbridge_bus = "{BUS}"\nwebhook_url = "https://siem.example.com/in"\n')
    assert both.events is not None and both.events.webhook_url == "https://siem.example.com/in"
    assert parse_policies("[settings]\n").events is None


@pytest.mark.parametrize(("body", "error"), [
    ("", "events: names nowhere to send events"),
    ('eventbridge_bus = "security"', "events.eventbridge_bus: 'security' is not an event bus ARN"),
    ('eventbridge_bus = "arn:aws:sqs:eu-west-1:111122223333:queue"', "is a 'sqs' ARN, not an EventBridge"),
    ('eventbridge_bus = "arn:aws:events:eu-west-1:111122223333:event-bus/*"', "contains a wildcard"),
    ('eventbridge_bus = "arn:aws:events:eu-west-1:1111:event-bus/x"', "'1111' is not a 12-digit AWS account id"),
    ('eventbridge_bus = "arn:aws:events:eu-west-1:111122223333:rule/x"', "its resource must be event-bus/NAME"),
    ('webhook_url = "http://siem.example.com/in"', "send them over https://"),
    ('webhook_url = "https://user:pw@siem.example.com/in"', "carries credentials"),
    ('webhook_url = "ftp://siem.example.com/in"', "is not an https:// URL"),
    ('webhook_url = "https://siem.example.com/in#x"', "has a #fragment"),
    ('webhook_secret = "s3cret"', "events.webhook_secret: is not a known setting"),
])
def test_bad_events_settings_are_located_errors(body: str, error: str) -> None:
    [found] = _errors(f"[events]\n{body}\n")
    assert found.startswith("events") and error in found


def test_the_detail_of_an_event() -> None:
    world = FakeWorld()
    request = world.grant(timedelta(hours=1))
    change = events.change(request.with_changes(state=State.REVOKED, ended_by="U0SAM0001", end_reason="done"),
                           State.ACTIVE, State.REVOKED, action="revoked", actor="U0SAM0001", at=T0, reason="done")
    detail = events.detail(change)
    assert events.detail_type(change) == "Access Revoked"
    assert (detail["from"], detail["to"], detail["actor"], detail["reason"]) == ("active", "revoked", "U0SAM0001",
                                                                                  "done")
    assert detail["request"]["node"] == {"id": request.node.id, "account": "111122223333", "region": "eu-west-1",
                                         "name": "web-1"}
    assert events.envelope(change)["detail"] == detail and events.envelope(change)["id"] == change.id


def test_every_transition_of_the_lifecycle_has_its_detail_type() -> None:
    from core.model import TRANSITIONS

    pairs = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}
    assert pairs | {(None, State.PENDING)} == set(events.DETAIL_TYPES)
