"""Frozen pydantic models of the tables of ``policies.toml`` (docs/policies.md); the file as a whole, with its
Cedar statements, is ``core.policy.file.PolicyFile``."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.durations import DurationError, parse_duration
from core.idc import check_idc_group, is_idc_group
from core.oncall import check_on_call, is_on_call
from core.policy.values import (
    AwsRegion,
    IdentityStoreId,
    PortalUrl,
    RoleArn,
    SessionDocument,
    SsoInstanceArn,
)

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
NODE_ID = re.compile(r"^(i-[0-9a-f]{8,17}|mi-[0-9a-f]{17})$")
MAX_LEVELS = 5
#: the most nodes one request may name under any policy (``max_nodes``): one IAM statement lists them all, and an
#: inline policy has a size limit (docs/policies.md)
MAX_NODES = 20


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a duration string such as \"4h\" or \"PT4H\"")
    try:
        return parse_duration(value)
    except DurationError as err:
        raise ValueError(str(err)) from None


def _duration_or_zero(value: Any) -> timedelta:
    if value == "0" or value == 0:
        return timedelta(0)
    return _duration(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
DurationOrZero = Annotated[timedelta, BeforeValidator(_duration_or_zero)]


def _check_principals(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if is_idc_group(value):
            check_idc_group(value)
        elif is_on_call(value):
            check_on_call(value)
        elif not (USER_ID.match(value) or GROUP_ID.match(value)):
            raise ValueError(f"'{value}' is not a Slack user id (U…/W…), user-group id (S…), IAM Identity Center "
                             "group (idc-group:<DisplayName> or idc-group:<GroupId>), PagerDuty schedule "
                             "(pagerduty:<schedule id>) or Opsgenie schedule (opsgenie:<schedule name or id>)")
    if len(set(values)) != len(values):
        raise ValueError("lists the same id twice")
    return values


Principals = Annotated[tuple[str, ...], Field(min_length=1)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicySettings(Frozen):
    timezone: str = "UTC"
    audit_channel: str | None = None
    digest_time: time | None = None
    approval_timeout: Duration = timedelta(hours=24)
    reminder_interval: DurationOrZero = timedelta(hours=1)
    expiry_warning: DurationOrZero = timedelta(minutes=10)
    session_documents: tuple[SessionDocument, ...] = ("SSM-SessionManagerRunShell",)
    retention: Duration = timedelta(days=365)
    reconcile_interval: DurationOrZero = timedelta(hours=1)
    #: a Cedar file (path relative to this file) of permit (auto-approval) and forbid (deny) statements
    cedar_policies: str | None = None
    #: how many requests one person may have pending, approved or active at once (all policies together)
    max_active_grants: int | None = Field(default=None, ge=1, le=1000)
    #: who may revoke any live request (``/jit revoke``) and lock people out (``/jit lockout``, ``/jit unlock``)
    revokers: tuple[str, ...] = ()
    #: the language of what people read: "en", "ja", or "auto" (each person's Slack locale, English otherwise)
    language: Literal["en", "ja", "auto"] = "en"
    #: the language of channel messages (approval messages, the audit channel, the digest); default ``language``
    #: ("en" under "auto": a channel has many readers)
    channel_language: Literal["en", "ja"] | None = None

    @field_validator("revokers")
    @classmethod
    def _revokers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_principals(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a tzdata folder, an over-long name
            raise ValueError(f"'{value}' is not an IANA time zone such as \"Europe/Paris\"") from None
        return value

    @field_validator("audit_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not CHANNEL_ID.match(value):
            raise ValueError(f"'{value}' is not a Slack channel id (C… or G…)")
        return value

    @field_validator("digest_time", mode="before")
    @classmethod
    def _digest(cls, value: Any) -> Any:
        if value is None or isinstance(value, time):  # TOML's own local time (18:30:00) is fine too
            return value
        if not isinstance(value, str) or not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
            raise ValueError(f"{value!r} is not a time of day as HH:MM")
        return value

    @field_validator("session_documents")
    @classmethod
    def _documents(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one SSM document")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def channel_lang(self) -> str:
        """The language of channel messages."""
        if self.channel_language is not None:
            return self.channel_language
        return "en" if self.language == "auto" else self.language


class Account(Frozen):
    role_arn: RoleArn


class Targets(Frozen):
    """Which nodes a policy covers: every node, listed node ids, or nodes carrying all the given tags."""

    all: bool = False
    nodes: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    accounts: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_toml(cls, value: Any) -> Any:
        if value == "all":
            return {"all": True}
        if isinstance(value, str):
            raise ValueError(f"'{value}' is not a target: use \"all\", {{ nodes = [...] }} or {{ tags = {{...}} }}")
        if isinstance(value, dict) and "all" in value:
            raise ValueError("write targets = \"all\" rather than an 'all' key")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Targets:
        chosen = sum(bool(x) for x in (self.all, self.nodes, self.tags))
        if chosen != 1 and not (chosen == 0 and self.accounts):
            raise ValueError("give exactly one of \"all\", nodes = [...] or tags = {...}")
        for node in self.nodes:
            if not NODE_ID.match(node):
                raise ValueError(f"'{node}' is not a node id (i-… or mi-…)")
        for account in self.accounts:
            if not ACCOUNT_ID.match(account):
                raise ValueError(f"'{account}' is not a 12-digit AWS account id")
        return self

    @property
    def specificity(self) -> tuple[int, int, int]:
        """Higher is more specific: node ids, then more tags, then fewer tags, then everything."""
        rank = 3 if self.nodes else 2 if self.tags else 0
        return (rank, len(self.tags), 1 if self.accounts else 0)

    def describe(self) -> str:
        if self.nodes:
            text = "nodes " + ", ".join(self.nodes)
        elif self.tags:
            text = "nodes tagged " + ", ".join(f"{k}={v}" for k, v in sorted(self.tags.items()))
        else:
            text = "all nodes"
        if self.accounts:
            text += " in account " + ", ".join(self.accounts)
        return text


class _Policy(Frozen):
    name: str = Field(min_length=1, max_length=80)
    description: str | None = None
    requesters: tuple[str, ...] | None = None
    targets: Targets

    @field_validator("requesters")
    @classmethod
    def _requesters(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("is empty: omit it to mean everyone")
        return _check_principals(value)


class DenyPolicy(_Policy):
    block: Literal["auto", "all"] = "all"


class _Granting(_Policy):
    max_duration: Duration = timedelta(hours=1)
    default_duration: Duration | None = None
    #: the longest continuous access through extensions, from the first grant to the end of the last
    #: extension (None: no cap; core.continuous)
    max_continuous: Duration | None = None
    ticket_pattern: str | None = None
    #: how many requests one person may have pending, approved or active at once under this policy
    max_active_grants: int | None = Field(default=None, ge=1, le=1000)
    #: the SSM documents its grants allow, instead of ``[settings] session_documents`` (core.documents)
    session_documents: tuple[SessionDocument, ...] | None = Field(default=None, min_length=1)
    #: Fleet Manager Remote Desktop: port forwarding plus the ``ssm-guiconnect`` actions (aws/policy.py)
    remote_desktop: bool = False
    #: scheduled access (``/jit request … at 22:00``): how far ahead a start may be (None: not allowed; core.schedule)
    max_start_ahead: Duration | None = None
    #: how many nodes one request may name (``/jit request web-1,web-2 …``, ``tag:Role=web``): one approval path,
    #: one grant listing each node (core.checks)
    max_nodes: int = 1

    @field_validator("max_nodes", mode="before")
    @classmethod
    def _max_nodes(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_NODES:
            raise ValueError(f"{value!r} is not a whole number of nodes from 1 to {MAX_NODES}")
        return value

    @field_validator("ticket_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except (re.error, OverflowError, RecursionError) as err:
                raise ValueError(f"is not a valid regular expression: {err}") from None
        return value

    @model_validator(mode="after")
    def _defaults(self) -> _Granting:
        problems = []
        if self.default_duration is not None and self.default_duration > self.max_duration:
            problems.append("default_duration is longer than max_duration")
        if self.max_continuous is not None and self.max_continuous < self.max_duration:
            problems.append("max_continuous is shorter than max_duration")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def duration_default(self) -> timedelta:
        return self.default_duration or min(self.max_duration, timedelta(hours=1))


class AutoApprovalPolicy(_Granting):
    pass


class Level(Frozen):
    name: str | None = None
    channel: str
    approvers: Principals
    required: int = Field(default=1, ge=1, le=50)
    #: after this long without the level's decision, ``escalate_to`` are asked too and count for the level
    escalate_after: Duration | None = None
    #: the fallback approvers (users, user groups, ``idc-group:`` entries) of an escalated level
    escalate_to: tuple[str, ...] = ()
    #: where the escalation posts the level's buttons; omitted: a mention in the level's own thread
    escalate_channel: str | None = None

    @field_validator("channel", "escalate_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not CHANNEL_ID.match(value):
            raise ValueError(f"'{value}' is not a Slack channel id (C… or G…)")
        return value

    @field_validator("escalate_to")
    @classmethod
    def _fallback(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("is empty: name the fallback approvers, or omit escalate_after and escalate_to")
        return _check_principals(value)

    @model_validator(mode="after")
    def _escalation(self) -> Level:
        if self.escalate_after is not None and not self.escalate_to:
            raise ValueError("escalate_after needs escalate_to (who is asked when the level waits that long)")
        if self.escalate_to and self.escalate_after is None:
            raise ValueError("escalate_to needs escalate_after (how long the level waits before asking them)")
        if self.escalate_channel is not None and self.escalate_after is None:
            raise ValueError("escalate_channel needs escalate_after and escalate_to")
        return self

    @field_validator("approvers")
    @classmethod
    def _approvers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_principals(value)

    @field_validator("required")
    @classmethod
    def _satisfiable(cls, value: int, info: ValidationInfo) -> int:
        approvers = info.data.get("approvers") or ()
        if approvers and all(USER_ID.match(a) for a in approvers) and value > len(approvers):
            raise ValueError(f"required = {value} but only {len(approvers)} approver(s) are listed")
        return value


class ManualApprovalPolicy(_Granting):
    levels: tuple[Level, ...] = Field(min_length=1, max_length=MAX_LEVELS)


class Breakglass(Frozen):
    requesters: tuple[str, ...] = ()
    max_duration: Duration = timedelta(hours=1)

    @field_validator("requesters")
    @classmethod
    def _requesters(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_principals(value)


class IdentityCenter(Frozen):
    """``[identity_center]``: people and groups from IAM Identity Center (docs/policies.md)."""

    instance_arn: SsoInstanceArn
    identity_store_id: IdentityStoreId
    #: Identity Center's home region (where the instance and its identity store live)
    region: AwsRegion
    #: the AWS access portal, for the links in the "granted" messages
    portal_url: PortalUrl | None = None
