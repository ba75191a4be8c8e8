"""Cedar statements as jitbot policies, and the interface of a compiled Cedar file (no cedarpy here).

A ``permit`` statement is an auto-approval policy and a ``forbid`` statement a deny-access policy, as in
AWS JITNA; they subclass the TOML models so that everything downstream (durations, tickets, messages)
treats them alike. Which nodes and requesters they cover is Cedar's business: their ``targets`` is
"all" and never consulted. ``core.policy.cedar`` builds them; it is imported only when a policy file
names ``[settings] cedar_policies`` (cedarpy is the optional extra ``jitbot[cedar]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import Field

from core.policy.schema import AutoApprovalPolicy, DenyPolicy, Targets

ACTION = 'AWS::SSM::Action::"getTokenForInstanceAccess"'


def _everything() -> Targets:
    return Targets.model_validate("all")


class CedarPermit(AutoApprovalPolicy):
    """A Cedar ``permit``: approved at once when it is satisfied (and no deny policy blocks it)."""

    targets: Targets = Field(default_factory=_everything)
    #: where the statement starts, as ``file:line``
    origin: str
    #: Cedar's own id of the statement (``policy0``, ``policy1``, … in file order)
    policy_id: str


class CedarForbid(DenyPolicy):
    """A Cedar ``forbid``: like JITNA, it blocks auto-approval only, unless annotated ``@block("all")``."""

    targets: Targets = Field(default_factory=_everything)
    block: Literal["auto", "all"] = "auto"
    origin: str
    policy_id: str


def is_cedar(policy: object) -> bool:
    return isinstance(policy, CedarPermit | CedarForbid)


@dataclass(frozen=True)
class CedarRequest:
    """What jitbot knows about one request, as Cedar sees it (docs/policies.md, "The Cedar model")."""

    user_id: str
    groups: frozenset[str]
    node_id: str
    tags: Mapping[str, str]
    duration_seconds: int
    has_ticket: bool
    email: str | None = None
    principal_arn: str | None = None
    #: an Identity Center person: their Identity Store user id (the principal's id then), the GroupIds of
    #: their groups and their JITNA attributes (``core.idc.JITNA_ATTRIBUTES``)
    idc_user_id: str | None = None
    idc_groups: frozenset[str] = frozenset()
    attributes: Mapping[str, str] = field(default_factory=dict)
    #: the IAM role's or user's tags (``context.iam.principalTags``); empty for an Identity Center person
    principal_tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CedarOutcome:
    """The satisfied statements, in file order; ``errors`` are statements Cedar could not evaluate."""

    permits: tuple[CedarPermit, ...] = ()
    forbids: tuple[CedarForbid, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)


class CedarRules(Protocol):
    """A Cedar file, parsed and validated once at load."""

    @property
    def source(self) -> str: ...

    @property
    def permits(self) -> tuple[CedarPermit, ...]: ...

    @property
    def forbids(self) -> tuple[CedarForbid, ...]: ...

    @property
    def groups(self) -> frozenset[str]:
        """The Slack user-group ids the statements name (``AWS::IdentityStore::Group::"S…"``)."""
        ...

    @property
    def idc_groups(self) -> Mapping[str, str]:
        """The Identity Store GroupIds the statements name, each with where it is first named (``file:line:col``)."""
        ...

    @property
    def reads_principal_tags(self) -> bool:
        """Whether a statement reads ``context.iam`` (so the IAM principal's tags must be read for a decision)."""
        ...

    def decide(self, request: CedarRequest) -> CedarOutcome: ...
