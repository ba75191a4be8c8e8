"""The pure decision function: which policy applies to this requester on this node, and how."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from core.durations import format_duration
from core.model import Node
from core.policy.schema import (
    AutoApprovalPolicy,
    DenyPolicy,
    ManualApprovalPolicy,
    PolicyFile,
    Targets,
)

Outcome = Literal["auto", "manual", "denied", "no_policy"]


@dataclass(frozen=True)
class Requester:
    """A Slack user as policies see them: their id and the referenced user groups they belong to."""

    user_id: str
    groups: frozenset[str] = frozenset()

    def is_in(self, principals: tuple[str, ...] | None) -> bool:
        if principals is None:
            return True
        return self.user_id in principals or bool(self.groups.intersection(principals))


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    policy: AutoApprovalPolicy | ManualApprovalPolicy | DenyPolicy | None
    message: str
    trace: tuple[str, ...] = field(default_factory=tuple)

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


def evaluate(
    policies: PolicyFile, requester: Requester, node: Node, duration: timedelta | None = None
) -> Verdict:
    """Deny, then auto-approval, then the most specific manual policy (DESIGN.md §3).

    ``duration`` (when known) lets an auto-approval policy whose ``max_duration`` is too short fall
    through to manual approval instead of refusing outright.
    """
    trace: list[str] = []
    auto_blocked_by: DenyPolicy | None = None
    for deny in policies.deny:
        if matches(deny.targets, node) and requester.is_in(deny.requesters):
            if deny.block == "all":
                trace.append(f"deny '{deny.name}' matches: access refused")
                return Verdict("denied", deny, f"Access to {node.label} is denied by policy '{deny.name}'.",
                               tuple(trace))
            trace.append(f"deny '{deny.name}' matches: auto-approval is blocked, manual approval still possible")
            auto_blocked_by = auto_blocked_by or deny
    if auto_blocked_by is None:
        for auto in policies.auto_approval:
            if not (matches(auto.targets, node) and requester.is_in(auto.requesters)):
                continue
            if duration is not None and duration > auto.max_duration:
                trace.append(
                    f"auto-approval '{auto.name}' matches but allows at most {format_duration(auto.max_duration)}"
                )
                continue
            trace.append(f"auto-approval '{auto.name}' matches: approved at once")
            return Verdict("auto", auto, f"Auto-approved by policy '{auto.name}'.", tuple(trace))
    candidates = [m for m in policies.manual_approval if matches(m.targets, node)]
    if not candidates:
        trace.append("no manual-approval policy covers this node")
        reason = "" if auto_blocked_by is None else f" (auto-approval is blocked by '{auto_blocked_by.name}')"
        return Verdict("no_policy", None, f"No policy lets you request access to {node.label}{reason}.",
                       tuple(trace))
    best = max(candidates, key=lambda m: m.targets.specificity)
    for other in candidates:
        if other is not best:
            trace.append(f"manual '{other.name}' matches but '{best.name}' is more specific")
    if not requester.is_in(best.requesters):
        trace.append(f"manual '{best.name}' applies but you are not among its requesters")
        return Verdict("denied", best, f"Policy '{best.name}' covers {node.label} but does not list you as a "
                       "requester.", tuple(trace))
    trace.append(f"manual '{best.name}' applies: {len(best.levels)} approval level(s)")
    return Verdict("manual", best, f"Needs approval under policy '{best.name}'.", tuple(trace))
