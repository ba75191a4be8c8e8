"""Publishing lifecycle events to Amazon EventBridge (``PutEvents`` to the bus of ``[events]``), one event per
call so that a failure is about that event alone; and the check ``jitbot policies check`` makes of the bus."""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError

from aws import errors
from aws.clients import Clients
from core import events
from core.errors import JitError
from core.model import Change

#: how AWS says the bus is not there (a deleted bus, a typo in the ARN, another account's bus)
MISSING = frozenset({"ResourceNotFoundException"})


class EventBridgeError(JitError):
    """EventBridge did not take the event; the message says why, for the log and the dead letter."""


def bus_region(bus_arn: str) -> str:
    return bus_arn.split(":")[3]


def put_event(clients: Clients, bus_arn: str, change: Change) -> None:
    """Publish ``change`` on ``bus_arn``; ``EventBridgeError`` saying why when EventBridge did not take it."""
    entry = {"Source": events.SOURCE, "DetailType": events.detail_type(change),
             "Detail": json.dumps(events.detail(change), separators=(",", ":")), "EventBusName": bus_arn,
             "Time": change.at, "Resources": []}
    try:
        answer = clients.events(bus_region(bus_arn)).put_events(Entries=[entry])
    except ClientError as err:
        if errors.error_code(err) in MISSING:
            raise EventBridgeError(f"the event bus {bus_arn} does not exist (or jitbot may not see it): create it, "
                                   "or correct [events] eventbridge_bus") from err
        raise EventBridgeError(f"EventBridge refused the event on {bus_arn}: {errors.describe(err)}") from err
    except (BotoCoreError, JitError) as err:
        raise EventBridgeError(f"EventBridge could not be reached for {bus_arn}: {errors.describe(err)}") from err
    failed = [e for e in answer.get("Entries", []) if e.get("ErrorCode")]
    if answer.get("FailedEntryCount") or failed:
        why = failed[0] if failed else {}
        raise EventBridgeError(f"EventBridge did not take the event on {bus_arn}: "
                               f"{why.get('ErrorCode', 'failed')}: {why.get('ErrorMessage', '')}".rstrip(": "))


def check_bus(clients: Clients, bus_arn: str) -> str | None:
    """None when the bus exists and jitbot can see it; else what is wrong (``jitbot policies check``)."""
    try:
        clients.events(bus_region(bus_arn)).describe_event_bus(Name=bus_arn)
    except ClientError as err:
        if errors.error_code(err) in MISSING:
            return f"the event bus {bus_arn} does not exist"
        return f"the event bus {bus_arn} could not be read: {errors.describe(err)}"
    except (BotoCoreError, JitError) as err:
        return f"the event bus {bus_arn} could not be read: {errors.describe(err)}"
    return None
