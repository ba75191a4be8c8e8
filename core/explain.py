"""Explain, in words a requester understands, what would happen if they asked for a node.

Which policies match, which one decides, and what follows: the approval path (levels, who approves,
how many), the limits (duration, ticket, open requests), the AWS identity that would receive the
grant, and whether break-glass is open to them. Pure apart from the optional ``Directory`` (names,
group members) and ``explain_for``, the use case behind ``/jit explain``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from core.context import Context
from core.durations import DurationError, format_duration, parse_duration
from core.errors import InvalidInput, NotAllowed
from core.idc import idc_group_ref, is_idc_group
from core.identity import principal_of
from core.model import LIVE_STATES, Node
from core.oncall import describe as on_call_words
from core.oncall import is_on_call
from core.policy.cedar_rules import CedarForbid, CedarPermit
from core.policy.evaluate import AnyPolicy, Requester, Verdict, evaluate, manual_for, matches
from core.policy.file import PolicyFile
from core.policy.schema import GROUP_ID, AutoApprovalPolicy, DenyPolicy, ManualApprovalPolicy
from core.ports import Directory


@dataclass(frozen=True)
class Explanation:
    verdict: Verdict
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _name(directory: Directory | None, user_id: str) -> str:
    if directory is None:
        return user_id
    try:
        info = directory.user(user_id)
    except Exception:  # an unknown or unreachable user is shown by id
        return user_id
    return info.name or user_id


def _members(directory: Directory | None, group: str) -> frozenset[str] | None:
    return None if directory is None else directory.group_members(group)


def who(principals: Iterable[str], directory: Directory | None) -> str:
    """``Sam, Tina (group S0SRELEAD), Carol``: user groups expanded to names when a Directory is given."""
    parts = []
    for principal in principals:
        if GROUP_ID.match(principal):
            members = _members(directory, principal)
            if members is None:
                parts.append(f"user group {principal}")
            elif not members:
                parts.append(f"nobody (user group {principal} is empty or unknown)")
            else:
                names = ", ".join(sorted(_name(directory, m) for m in members))
                parts.append(f"{names} (group {principal})")
        elif is_idc_group(principal):
            parts.append(f"the members of IAM Identity Center group '{idc_group_ref(principal)}'")
        elif is_on_call(principal):
            parts.append(on_call_words(principal))
        else:
            parts.append(_name(directory, principal))
    return ", ".join(parts)


def describe(policy: AnyPolicy) -> str:
    """A policy's kind, name and scope in a few words."""
    if isinstance(policy, CedarPermit):
        return f"Cedar permit '{policy.name}' ({policy.origin})"
    if isinstance(policy, CedarForbid):
        return f"Cedar forbid '{policy.name}' ({policy.origin})"
    kind = ("deny policy" if isinstance(policy, DenyPolicy) else "auto-approval policy"
            if isinstance(policy, AutoApprovalPolicy) else "manual-approval policy")
    return f"{kind} '{policy.name}' ({policy.targets.describe()})"


def _header(requester: Requester, node: Node, duration: timedelta | None, has_ticket: bool,
            directory: Directory | None) -> str:
    tags = ", ".join(f"{k}={v}" for k, v in sorted(node.tags.items())) or "no tags"
    length = f"for {format_duration(duration)}" if duration else "for the policy's default duration"
    ticket = ", with a ticket" if has_ticket else ""
    name = _name(directory, requester.user_id)
    person = requester.user_id if name == requester.user_id else f"{name} ({requester.user_id})"
    return (f"If {person} asks for {node.label} "
            f"(account {node.account}, {node.region}; {tags}) {length}{ticket}:")


def _level_lines(policy: ManualApprovalPolicy, requester: Requester, directory: Directory | None) -> list[str]:
    lines = []
    for index, level in enumerate(policy.levels, 1):
        title = level.name or f"Level {index}"
        line = (f"  {index}. {title}: {level.required} approval(s) from {who(level.approvers, directory)}, "
                f"asked in channel {level.channel}.")
        if level.escalate_after is not None:
            where = (f"with the buttons in channel {level.escalate_channel}" if level.escalate_channel
                     else "mentioned in the level's thread")
            line += (f" Escalation: after {format_duration(level.escalate_after)} without a decision, "
                     f"{who(level.escalate_to, directory)} are asked too ({where}) and count for this level from "
                     "then on.")
            if requester.user_id in level.escalate_to:
                line += " You are among them, but nobody approves their own request."
        if directory is not None:
            everyone: set[str] = set()
            for principal in level.approvers:
                if GROUP_ID.match(principal):
                    everyone |= directory.group_members(principal)
                elif not is_idc_group(principal) and not is_on_call(principal):
                    everyone.add(principal)
            eligible = everyone - {requester.user_id}
            if requester.user_id in everyone:
                line += " You are one of them, but nobody approves their own request."
            if len(eligible) < level.required and not any(is_idc_group(p) or is_on_call(p) for p in level.approvers):
                line += (f" This level can never be satisfied for you: it needs {level.required} approval(s) and "
                         f"only {len(eligible)} other person(s) can give one; ask an admin to fix the policy.")
            elif len(eligible) == level.required and level.required > 1:
                line += " All of them must approve."
        lines.append(line)
    return lines


def _decision(verdict: Verdict, requester: Requester, node: Node, directory: Directory | None) -> list[str]:
    policy = verdict.policy
    if verdict.outcome == "auto" and isinstance(policy, AutoApprovalPolicy):
        return [f"Decision: approved at once by {describe(policy)}. Access starts immediately and lasts what you "
                f"ask for, at most {format_duration(policy.max_duration)} "
                f"({format_duration(policy.duration_default)} if you do not say)."]
    if verdict.outcome == "manual" and isinstance(policy, ManualApprovalPolicy):
        intro = (f"Decision: your request needs approval under {describe(policy)}, for at most "
                 f"{format_duration(policy.max_duration)} ({format_duration(policy.duration_default)} if you do "
                 f"not say). Access starts when the last level approves. The approval path, level after level:")
        return [intro, *_level_lines(policy, requester, directory)]
    if isinstance(policy, ManualApprovalPolicy):
        return [f"Decision: refused. {describe(policy)} covers {node.label} but only for "
                f"{who(policy.requesters or (), directory)}."]
    return [f"Decision: refused. {verdict.message}"]


def _limits(policies: PolicyFile, policy: AutoApprovalPolicy | ManualApprovalPolicy, live: int | None) -> list[str]:
    lines = []
    if policy.ticket_pattern:
        lines.append(f"A ticket is required: add ticket=<id> matching `{policy.ticket_pattern}`.")
    overall = policies.settings.max_active_grants
    if overall is not None:
        now = f" (you have {live})" if live is not None else ""
        lines.append(f"You may have at most {overall} request(s) pending or active at a time{now}.")
    if policy.max_active_grants is not None:
        lines.append(f"Policy '{policy.name}' allows at most {policy.max_active_grants} pending or active "
                     "request(s) per person.")
    if policy.max_continuous is not None:
        lines.append(f"Extensions (`/jit extend`) keep access continuous for at most "
                     f"{format_duration(policy.max_continuous)} in all, from the first grant (max_continuous); "
                     "beyond that, new access must be asked for.")
    if policy.max_nodes > 1:
        lines.append(f"One request may name up to {policy.max_nodes} nodes under policy '{policy.name}' (max_nodes): "
                     "`/jit request web-1,web-2 <duration> <reason>`, or every node with a tag, `tag:Role=web`. "
                     "Each must fall under this policy, in one account and region; they are approved, granted and "
                     "ended together.")
    if policy.max_start_ahead is not None:
        lines.append(f"Access may be scheduled up to {format_duration(policy.max_start_ahead)} ahead "
                     f"(`/jit request <node> <duration> at 22:00 <reason>`, in {policies.settings.timezone}): "
                     "approved now, granted at the start, checked again against the policy then.")
    return lines


def _breakglass(policies: PolicyFile, requester: Requester, node: Node, verdict: Verdict) -> list[str]:
    glass = policies.breakglass
    if not glass.requesters or not requester.is_in(glass.requesters):
        return []
    if verdict.outcome == "denied" and isinstance(verdict.policy, DenyPolicy):
        return [f"Break-glass cannot override '{verdict.policy.name}': it refuses access outright."]
    manual, _ = manual_for(policies, node)
    if manual is None:
        return ["Break-glass is not possible here: no manual-approval policy covers this node, so nobody could "
                "review it."]
    first = manual.levels[0]
    return [f"In an emergency, `/jit breakglass {node.name or node.id} <reason>` gives you access at once for at "
            f"most {format_duration(glass.max_duration)}; level 1 of '{manual.name}' "
            f"({first.name or 'Level 1'}) must review it afterwards."]


def _identity(policies: PolicyFile, requester: Requester, directory: Directory | None) -> str:
    """The principal that would receive the grant, or why there is none (with Slack: why an email key is refused)."""
    principal = requester.principal_arn or policies.principal_for(requester.user_id, requester.email)
    if principal is None and directory is not None:
        try:
            user = directory.user(requester.user_id)
            if policies.principal_for(user.id, user.email) is not None:  # an email key Slack may not vouch for
                principal = principal_of(policies, user)
        except NotAllowed as err:
            return f"{err} Until then every request is refused."
        except Exception:  # an unreachable Slack leaves the plain answer
            principal = None
    if principal:
        return f"Your AWS identity (which would receive the grant): {principal}."
    return ("You have no AWS identity in [identities]: every request is refused until an admin maps your Slack "
            "account to your IAM role or user.")


def _on_call_note(shown: Iterable[AnyPolicy]) -> list[str]:
    """How an on-call entry among the policies shown finds people in Slack, said once."""
    entries: list[str] = []
    for policy in shown:
        entries += getattr(policy, "requesters", None) or ()
        for level in getattr(policy, "levels", ()):
            entries += [*level.approvers, *level.escalate_to]
    if not any(is_on_call(e) for e in entries):
        return []
    return ["Note: whoever is on call is matched to a Slack account by its confirmed email; someone on call whose "
            "email is no Slack account's is not an approver, nor a requester, here."]


def explain(policies: PolicyFile, requester: Requester, node: Node, duration: timedelta | None = None, *,
            has_ticket: bool = False, directory: Directory | None = None, live: int | None = None) -> Explanation:
    """What would happen; ``live`` is how many requests the requester has pending or active, when known."""
    verdict = evaluate(policies, requester, node, duration, has_ticket=has_ticket)
    lines = [_header(requester, node, duration, has_ticket, directory)]
    if verdict.matched:
        lines.append("Policies that match:")
        lines += [f"  • {describe(m.policy)}: {m.effect}" + ("  ← this one decides" if m.decided else "")
                  for m in verdict.matched]
    else:
        lines.append("No policy matches.")
    matched = {id(m.policy) for m in verdict.matched}
    toml: list[AnyPolicy] = [*policies.deny, *policies.auto_approval]
    others = [p for p in toml if id(p) not in matched and matches(p.targets, node)
              and not requester.is_in(p.requesters)]
    if others:
        lines.append("Policies that cover this node, but not you:")
        lines += [f"  • {describe(p)}: only for {who(p.requesters or (), directory)}" for p in others]
    lines += [f"Note: {line}" for line in verdict.trace if "could not be evaluated" in line]
    lines += _decision(verdict, requester, node, directory)
    lines += _on_call_note([*(m.policy for m in verdict.matched), *others])
    if verdict.granting is not None and verdict.outcome in ("auto", "manual"):
        lines += _limits(policies, verdict.granting, live)
    lines.append(_identity(policies, requester, directory))
    lines += _breakglass(policies, requester, node, verdict)
    return Explanation(verdict, tuple(lines))


def explain_for(ctx: Context, user_id: str, node_ref: str, duration: str | None = None) -> Explanation:
    """``/jit explain <node> [duration]``: the explanation for the person asking, on a real node."""
    requested = None
    if duration:
        try:
            requested = parse_duration(duration)
        except DurationError as err:
            raise InvalidInput(str(err)) from None
    node = ctx.nodes.resolve(node_ref.strip())
    with ctx.uow() as uow:
        live = len(uow.repo.by_requester(user_id, LIVE_STATES, limit=1000))
    return explain(ctx.policies(), ctx.requester(user_id), node, requested, directory=ctx.directory, live=live)
