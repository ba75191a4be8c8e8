"""``[events]`` of the policy file: where lifecycle events go (``core.events``; docs/events.md).

Either or both of an EventBridge bus (its ARN) and a webhook (an ``https://`` URL; ``http://`` only to this host,
for a local relay); the webhook's signing secret is never in the file (environment ``JITBOT_WEBHOOK_SECRET``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from core.policy.values import PARTITIONS

_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}")
_BUS_NAME = re.compile(r"[A-Za-z0-9/._-]{1,256}")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def event_bus_arn(value: str) -> str:
    """``arn:aws:events:REGION:ACCOUNT:event-bus/NAME``."""
    shape = "arn:aws:events:REGION:ACCOUNT:event-bus/NAME"
    if any(c in value for c in "*?"):
        raise ValueError(f"'{value}' contains a wildcard: name exactly one event bus ({shape})")
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"'{value}' is not an event bus ARN ({shape})")
    _, partition, service, region, account, resource = parts
    if partition not in PARTITIONS:
        raise ValueError(f"'{value}': '{partition}' is not an AWS partition ({', '.join(PARTITIONS)})")
    if service != "events":
        raise ValueError(f"'{value}' is a '{service}' ARN, not an EventBridge event bus ARN ({shape})")
    if not _REGION.fullmatch(region):
        raise ValueError(f"'{value}': '{region}' is not an AWS region")
    if not re.fullmatch(r"\d{12}", account):
        raise ValueError(f"'{value}': '{account}' is not a 12-digit AWS account id")
    kind, _, name = resource.partition("/")
    if kind != "event-bus" or not _BUS_NAME.fullmatch(name):
        raise ValueError(f"'{value}' is not an event bus ARN: its resource must be event-bus/NAME ({shape})")
    return value


def webhook_url(value: str) -> str:
    """An ``https://`` URL (``http://`` to localhost only), without credentials or a fragment."""
    if len(value) > 2048:
        raise ValueError("is longer than 2048 characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"'{value}' is not a URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"'{value}' is not an https:// URL")
    if parts.scheme == "http" and host not in _LOOPBACK:
        raise ValueError(f"'{value}': events carry who accessed what; send them over https:// (http:// is allowed "
                         "to localhost only)")
    if parts.username or parts.password:
        raise ValueError(f"'{value}' carries credentials: jitbot signs each request with JITBOT_WEBHOOK_SECRET "
                         "instead")
    if parts.fragment:
        raise ValueError(f"'{value}' has a #fragment, which is never sent")
    if any(c.isspace() for c in value):
        raise ValueError(f"'{value}' contains whitespace")
    return value


class Events(BaseModel):
    """``[events]``: an EventBridge bus and/or a webhook (at least one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    eventbridge_bus: str | None = None
    webhook_url: str | None = None

    @field_validator("eventbridge_bus")
    @classmethod
    def _bus(cls, value: str | None) -> str | None:
        return None if value is None else event_bus_arn(value)

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else webhook_url(value)

    @model_validator(mode="after")
    def _somewhere(self) -> Events:
        if self.eventbridge_bus is None and self.webhook_url is None:
            raise ValueError("names nowhere to send events: give eventbridge_bus = \"arn:aws:events:…\" and/or "
                             "webhook_url = \"https://…\" (or remove [events])")
        return self
