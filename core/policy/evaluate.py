"""The pure decision function: which policy applies to this requester on this node, and how."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from core.durations import format_duration
from core.i18n import TP, T, Text
from core.idc import IdcUser
from core.model import Node
from core.oncall import is_on_call
from core.policy.cedar_rules import CedarForbid, CedarOutcome, CedarPermit, CedarRequest
from core.policy.file import PolicyFile
from core.policy.schema import (
    GROUP_ID,
    AutoApprovalPolicy,
    DenyPolicy,
    ManualApprovalPolicy,
    Targets,
)

Outcome = Literal["auto", "manual", "denied", "no_policy"]
AnyPolicy = AutoApprovalPolicy | ManualApprovalPolicy | DenyPolicy

#: the duration Cedar sees (``context.durationSeconds``) when the requester gives none
CEDAR_DEFAULT_DURATION = timedelta(hours=1)


@dataclass(frozen=True)
class Requester:
    """A Slack user as policies see them: their id, the referenced groups they belong to (Slack user-group ids and
    ``idc-group:`` entries), and their email when Slack vouches for it (``core.identity.trusted_email``; Cedar's
    ``principal.email``). Nothing a member types into their own profile (title …) is here: nothing may authorize
    on it. An Identity Center person also carries their Identity Store user (``idc_user``) and the GroupIds of
    their Identity Store groups; ``principal_tags`` are the tags of the IAM role or user receiving the grant."""

    user_id: str
    groups: frozenset[str] = frozenset()
    email: str | None = None
    idc_user: IdcUser | None = None
    idc_groups: frozenset[str] = frozenset()
    principal_arn: str | None = None
    principal_tags: Mapping[str, str] = field(default_factory=dict)
    #: whether they are on call now for an on-call entry's schedule (``Context.on_call_now``), asked only when
    #: a list that could decide names one; None: on call for nothing
    on_call: Callable[[str], bool] | None = field(default=None, compare=False, repr=False)

    def is_in(self, principals: tuple[str, ...] | None) -> bool:
        if principals is None:
            return True
        if self.user_id in principals or self.groups.intersection(principals):
            return True
        return self.on_call is not None and any(self.on_call(p) for p in principals if is_on_call(p))


@dataclass(frozen=True)
class Matched:
    """A policy that matched this requester and node, and what it did, in words."""

    policy: AnyPolicy
    #: what it did, for people (``explain``)
    effect: Text
    decided: bool = False


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    policy: AutoApprovalPolicy | ManualApprovalPolicy | DenyPolicy | None
    #: the decision, for people (``str()``: the English, as the audit trail records it)
    message: Text
    #: how the decision was reached, in English: a record for the audit trail
    trace: tuple[str, ...] = field(default_factory=tuple)
    #: every policy that matched, in evaluation order (``explain`` shows them)
    matched: tuple[Matched, ...] = field(default_factory=tuple)

    @property
    def granting(self) -> AutoApprovalPolicy | ManualApprovalPolicy | None:
        if isinstance(self.policy, AutoApprovalPolicy | ManualApprovalPolicy):
            return self.policy
        return None


def matches(targets: Targets, node: Node) -> bool:
    if targets.accounts and node.account not in targets.accounts:
        return False
    if targets.all:
        return True
    if targets.nodes:
        return node.id in targets.nodes
    if targets.tags:
        return all(node.tags.get(key) == value for key, value in targets.tags.items())
    return bool(targets.accounts)


def label(policy: AnyPolicy) -> str:
    """How the trace names a policy: ``deny 'x'``, ``auto-approval 'x'``, ``manual 'x'``, ``Cedar permit 'x'``."""
    if isinstance(policy, CedarPermit):
        return f"Cedar permit '{policy.name}' ({policy.origin})"
    if isinstance(policy, CedarForbid):
        return f"Cedar forbid '{policy.name}' ({policy.origin})"
    kind = "deny" if isinstance(policy, DenyPolicy) else "auto-approval" if isinstance(
        policy, AutoApprovalPolicy) else "manual"
    return f"{kind} '{policy.name}'"


def manual_for(policies: PolicyFile, node: Node) -> tuple[ManualApprovalPolicy | None, list[ManualApprovalPolicy]]:
    """The most specific manual policy covering ``node`` (whoever asks), and the others that cover it."""
    candidates = [m for m in policies.manual_approval if matches(m.targets, node)]
    if not candidates:
        return None, []
    best = max(candidates, key=lambda m: m.targets.specificity)
    return best, [c for c in candidates if c is not best]


def _cedar(policies: PolicyFile, requester: Requester, node: Node, duration: timedelta | None,
           has_ticket: bool) -> CedarOutcome:
    rules = policies.cedar
    if rules is None:
        return CedarOutcome()
    idc = requester.idc_user
    return rules.decide(CedarRequest(
        user_id=requester.user_id, groups=frozenset(g for g in requester.groups if GROUP_ID.match(g)),
        node_id=node.id, tags=node.tags,
        duration_seconds=int((duration or CEDAR_DEFAULT_DURATION).total_seconds()), has_ticket=has_ticket,
        email=requester.email,
        principal_arn=requester.principal_arn or policies.principal_for(requester.user_id, requester.email),
        idc_user_id=idc.user_id if idc else None, idc_groups=requester.idc_groups,
        attributes=idc.attributes if idc else {}, principal_tags=requester.principal_tags))


def evaluate(
    policies: PolicyFile, requester: Requester, node: Node, duration: timedelta | None = None,
    *, has_ticket: bool = False,
) -> Verdict:
    """Deny, then auto-approval, then the most specific manual policy (docs/policies.md).

    Cedar ``forbid`` statements count as deny policies after the TOML ones, Cedar ``permit`` statements as
    auto-approval policies after the TOML ones. ``duration`` (when known) lets an auto-approval policy
    whose ``max_duration`` is too short fall through to manual approval instead of refusing outright.
    """
    trace: list[str] = []
    matched: list[Matched] = []
    cedar = _cedar(policies, requester, node, duration, has_ticket)
    trace.extend(cedar.errors)

    def verdict(outcome: Outcome, policy: AnyPolicy | None, message: Text) -> Verdict:
        return Verdict(outcome, policy, message, tuple(trace), tuple(matched))

    auto_blocked_by: DenyPolicy | None = None
    denies = [d for d in policies.deny if matches(d.targets, node) and requester.is_in(d.requesters)]
    for deny in [*denies, *cedar.forbids]:
        if deny.block == "all":
            trace.append(f"{label(deny)} matches: access refused")
            matched.append(Matched(deny, T("refuses access outright"), True))
            return verdict("denied", deny, T("Access to {node} is denied by policy '{policy}'.", node=node.label,
                                             policy=deny.name))
        trace.append(f"{label(deny)} matches: auto-approval is blocked, manual approval still possible")
        matched.append(Matched(deny, T("blocks auto-approval; manual approval is still possible")))
        auto_blocked_by = auto_blocked_by or deny
    autos = [a for a in policies.auto_approval if matches(a.targets, node) and requester.is_in(a.requesters)]
    for auto in [*autos, *cedar.permits]:
        if auto_blocked_by is not None:
            matched.append(Matched(auto, T("would approve at once, but '{policy}' blocks it",
                                           policy=auto_blocked_by.name)))
            continue
        if duration is not None and duration > auto.max_duration:
            trace.append(f"{label(auto)} matches but allows at most {format_duration(auto.max_duration)}")
            matched.append(Matched(auto, T("approves at once, but only up to {maximum}", maximum=auto.max_duration)))
            continue
        trace.append(f"{label(auto)} matches: approved at once")
        matched.append(Matched(auto, T("approves at once"), True))
        return verdict("auto", auto, T("Auto-approved by policy '{policy}'.", policy=auto.name))
    best, others = manual_for(policies, node)
    if best is None:
        trace.append("no manual-approval policy covers this node")
        if auto_blocked_by is None:
            return verdict("no_policy", None, T("No policy lets you request access to {node}.", node=node.label))
        return verdict("no_policy", None, T("No policy lets you request access to {node} (auto-approval is blocked "
                                            "by '{policy}').", node=node.label, policy=auto_blocked_by.name))
    for other in others:
        trace.append(f"manual '{other.name}' matches but '{best.name}' is more specific")
        matched.append(Matched(other, T("covers this node too, but '{policy}' is more specific", policy=best.name)))
    if not requester.is_in(best.requesters):
        trace.append(f"manual '{best.name}' applies but you are not among its requesters")
        matched.append(Matched(best, T("applies, but does not list you as a requester"), True))
        return verdict("denied", best, T("Policy '{policy}' covers {node} but does not list you as a requester.",
                                         policy=best.name, node=node.label))
    trace.append(f"manual '{best.name}' applies: {len(best.levels)} approval level(s)")
    matched.append(Matched(best, TP("applies: {count} approval level", "applies: {count} approval levels",
                                    len(best.levels)), True))
    return verdict("manual", best, T("Needs approval under policy '{policy}'.", policy=best.name))
