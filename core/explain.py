"""Explain, in words a requester understands, what would happen if they asked for a node.

Which policies match, which one decides, and what follows: the approval path (levels, who approves,
how many), the limits (duration, ticket, open requests), the AWS identity that would receive the
grant, and whether break-glass is open to them. Pure apart from the optional ``Directory`` (names,
group members). Several nodes, and ``explain_for`` (the use case behind ``/jit explain``): ``core.explain_nodes``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from core.errors import NotAllowed
from core.i18n import TP, T, Text
from core.idc import idc_group_ref, is_idc_group
from core.identity import principal_of
from core.model import Node
from core.oncall import describe as on_call_words
from core.oncall import is_on_call
from core.policy.cedar_rules import CedarForbid, CedarPermit
from core.policy.evaluate import AnyPolicy, Requester, Verdict, evaluate, manual_for, matches
from core.policy.file import PolicyFile
from core.policy.schema import GROUP_ID, AutoApprovalPolicy, DenyPolicy, Level, ManualApprovalPolicy
from core.ports import Directory
from core.words import series


@dataclass(frozen=True)
class Explanation:
    verdict: Verdict
    #: the explanation, a line each, for people (``tr.text(line)``; ``str(line)`` is the English)
    lines: tuple[Text, ...]

    @property
    def text(self) -> str:
        """The explanation in English (the command line's)."""
        return "\n".join(str(line) for line in self.lines)


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


def who(principals: Iterable[str], directory: Directory | None) -> Text:
    """``Sam, Tina (group S0SRELEAD), Carol``: user groups expanded to names when a Directory is given."""
    parts: list[Text | str] = []
    for principal in principals:
        if GROUP_ID.match(principal):
            members = _members(directory, principal)
            if members is None:
                parts.append(T("user group {group}", group=principal))
            elif not members:
                parts.append(T("nobody (user group {group} is empty or unknown)", group=principal))
            else:
                names = series(sorted(_name(directory, m) for m in members))
                parts.append(T("{names} (group {group})", names=names, group=principal))
        elif is_idc_group(principal):
            parts.append(T("the members of IAM Identity Center group '{group}'", group=idc_group_ref(principal)))
        elif is_on_call(principal):
            parts.append(on_call_words(principal))
        else:
            parts.append(_name(directory, principal))
    return series(parts)


def describe(policy: AnyPolicy) -> Text:
    """A policy's kind, name and scope in a few words."""
    if isinstance(policy, CedarPermit):
        return T("Cedar permit '{name}' ({origin})", name=policy.name, origin=policy.origin)
    if isinstance(policy, CedarForbid):
        return T("Cedar forbid '{name}' ({origin})", name=policy.name, origin=policy.origin)
    scope = policy.targets.describe()  # the policy file's words (keys and values), as the operator wrote them
    if isinstance(policy, DenyPolicy):
        return T("deny policy '{name}' ({scope})", name=policy.name, scope=scope)
    if isinstance(policy, AutoApprovalPolicy):
        return T("auto-approval policy '{name}' ({scope})", name=policy.name, scope=scope)
    return T("manual-approval policy '{name}' ({scope})", name=policy.name, scope=scope)


def _header(requester: Requester, node: Node, duration: timedelta | None, has_ticket: bool,
            directory: Directory | None) -> Text:
    tags: Text | str = ", ".join(f"{k}={v}" for k, v in sorted(node.tags.items())) or T("no tags")
    name = _name(directory, requester.user_id)
    person = requester.user_id if name == requester.user_id else f"{name} ({requester.user_id})"
    values = {"person": person, "node": node.label, "account": node.account, "region": node.region, "tags": tags}
    if duration and has_ticket:
        return T("If {person} asks for {node} (account {account}, {region}; {tags}) for {duration}, with a ticket:",
                 duration=duration, **values)
    if duration:
        return T("If {person} asks for {node} (account {account}, {region}; {tags}) for {duration}:",
                 duration=duration, **values)
    if has_ticket:
        return T("If {person} asks for {node} (account {account}, {region}; {tags}) for the policy's default "
                 "duration, with a ticket:", **values)
    return T("If {person} asks for {node} (account {account}, {region}; {tags}) for the policy's default duration:",
             **values)


def _escalation(level: Level, requester: Requester, directory: Directory | None, line: Text) -> Text:
    assert level.escalate_after is not None
    values = {"line": line, "after": level.escalate_after, "who": who(level.escalate_to, directory)}
    if level.escalate_channel:
        line = T("{line} Escalation: after {after} without a decision, {who} are asked too (with the buttons in "
                 "channel {channel}) and count for this level from then on.", channel=level.escalate_channel,
                 **values)
    else:
        line = T("{line} Escalation: after {after} without a decision, {who} are asked too (mentioned in the "
                 "level's thread) and count for this level from then on.", **values)
    if requester.user_id in level.escalate_to:
        line = T("{line} You are among them, but nobody approves their own request.", line=line)
    return line


def _level_lines(policy: ManualApprovalPolicy, requester: Requester, directory: Directory | None) -> list[Text]:
    lines = []
    for index, level in enumerate(policy.levels, 1):
        title: Text | str = level.name or T("Level {number}", number=index)
        line = TP("  {number}. {title}: {count} approval from {who}, asked in channel {channel}.",
                  "  {number}. {title}: {count} approvals from {who}, asked in channel {channel}.", level.required,
                  number=index, title=title, who=who(level.approvers, directory), channel=level.channel)
        if level.escalate_after is not None:
            line = _escalation(level, requester, directory, line)
        if directory is not None:
            everyone: set[str] = set()
            for principal in level.approvers:
                if GROUP_ID.match(principal):
                    everyone |= directory.group_members(principal)
                elif not is_idc_group(principal) and not is_on_call(principal):
                    everyone.add(principal)
            eligible = everyone - {requester.user_id}
            if requester.user_id in everyone:
                line = T("{line} You are one of them, but nobody approves their own request.", line=line)
            if len(eligible) < level.required and not any(is_idc_group(p) or is_on_call(p) for p in level.approvers):
                line = TP("{line} This level can never be satisfied for you: it needs {approvals} and only {count} "
                          "other person can give one; ask an admin to fix the policy.",
                          "{line} This level can never be satisfied for you: it needs {approvals} and only {count} "
                          "other people can give one; ask an admin to fix the policy.", len(eligible), line=line,
                          approvals=TP("{count} approval", "{count} approvals", level.required))
            elif len(eligible) == level.required and level.required > 1:
                line = T("{line} All of them must approve.", line=line)
        lines.append(line)
    return lines


def _decision(verdict: Verdict, requester: Requester, node: Node, directory: Directory | None) -> list[Text]:
    policy = verdict.policy
    if verdict.outcome == "auto" and isinstance(policy, AutoApprovalPolicy):
        return [T("Decision: approved at once by {policy}. Access starts immediately and lasts what you ask for, at "
                  "most {maximum} ({default} if you do not say).", policy=describe(policy),
                  maximum=policy.max_duration, default=policy.duration_default)]
    if verdict.outcome == "manual" and isinstance(policy, ManualApprovalPolicy):
        intro = T("Decision: your request needs approval under {policy}, for at most {maximum} ({default} if you do "
                  "not say). Access starts when the last level approves. The approval path, level after level:",
                  policy=describe(policy), maximum=policy.max_duration, default=policy.duration_default)
        return [intro, *_level_lines(policy, requester, directory)]
    if isinstance(policy, ManualApprovalPolicy):
        return [T("Decision: refused. {policy} covers {node} but only for {who}.", policy=describe(policy),
                  node=node.label, who=who(policy.requesters or (), directory))]
    return [T("Decision: refused. {message}", message=verdict.message)]


def _limits(policies: PolicyFile, policy: AutoApprovalPolicy | ManualApprovalPolicy, live: int | None) -> list[Text]:
    lines = []
    if policy.ticket_pattern:
        lines.append(T("A ticket is required: add ticket=<id> matching `{pattern}`.", pattern=policy.ticket_pattern))
    overall = policies.settings.max_active_grants
    if overall is not None and live is not None:
        lines.append(TP("You may have at most {count} request pending or active at a time (you have {live}).",
                        "You may have at most {count} requests pending or active at a time (you have {live}).",
                        overall, live=live))
    elif overall is not None:
        lines.append(TP("You may have at most {count} request pending or active at a time.",
                        "You may have at most {count} requests pending or active at a time.", overall))
    if policy.max_active_grants is not None:
        lines.append(TP("Policy '{policy}' allows at most {count} pending or active request per person.",
                        "Policy '{policy}' allows at most {count} pending or active requests per person.",
                        policy.max_active_grants, policy=policy.name))
    if policy.max_continuous is not None:
        lines.append(T("Extensions (`/jit extend`) keep access continuous for at most {cap} in all, from the first "
                       "grant (max_continuous); beyond that, new access must be asked for.",
                       cap=policy.max_continuous))
    if policy.max_nodes > 1:
        lines.append(T("One request may name up to {most} nodes under policy '{policy}' (max_nodes): "
                       "`/jit request web-1,web-2 <duration> <reason>`, or every node with a tag, `tag:Role=web`. "
                       "Each must fall under this policy, in one account and region; they are approved, granted and "
                       "ended together.", most=policy.max_nodes, policy=policy.name))
    if policy.max_start_ahead is not None:
        lines.append(T("Access may be scheduled up to {ahead} ahead (`/jit request <node> <duration> at 22:00 "
                       "<reason>`, in {zone}): approved now, granted at the start, checked again against the policy "
                       "then.", ahead=policy.max_start_ahead, zone=policies.settings.timezone))
    return lines


def _breakglass(policies: PolicyFile, requester: Requester, node: Node, verdict: Verdict) -> list[Text]:
    glass = policies.breakglass
    if not glass.requesters or not requester.is_in(glass.requesters):
        return []
    if verdict.outcome == "denied" and isinstance(verdict.policy, DenyPolicy):
        return [T("Break-glass cannot override '{policy}': it refuses access outright.", policy=verdict.policy.name)]
    manual, _ = manual_for(policies, node)
    if manual is None:
        return [T("Break-glass is not possible here: no manual-approval policy covers this node, so nobody could "
                  "review it.")]
    first = manual.levels[0]
    return [T("In an emergency, `/jit breakglass {node} <reason>` gives you access at once for at most {maximum}; "
              "level 1 of '{policy}' ({level}) must review it afterwards.", node=node.name or node.id,
              maximum=glass.max_duration, policy=manual.name, level=first.name or T("Level {number}", number=1))]


def _identity(policies: PolicyFile, requester: Requester, directory: Directory | None) -> Text:
    """The principal that would receive the grant, or why there is none (with Slack: why an email key is refused)."""
    principal = requester.principal_arn or policies.principal_for(requester.user_id, requester.email)
    if principal is None and directory is not None:
        try:
            user = directory.user(requester.user_id)
            if policies.principal_for(user.id, user.email) is not None:  # an email key Slack may not vouch for
                principal = principal_of(policies, user)
        except NotAllowed as err:
            return T("{refusal} Until then every request is refused.", refusal=err.message)
        except Exception:  # an unreachable Slack leaves the plain answer
            principal = None
    if principal:
        return T("Your AWS identity (which would receive the grant): {principal}.", principal=principal)
    return T("You have no AWS identity in [identities]: every request is refused until an admin maps your Slack "
             "account to your IAM role or user.")


def _on_call_note(shown: Iterable[AnyPolicy]) -> list[Text]:
    """How an on-call entry among the policies shown finds people in Slack, said once."""
    entries: list[str] = []
    for policy in shown:
        entries += getattr(policy, "requesters", None) or ()
        for level in getattr(policy, "levels", ()):
            entries += [*level.approvers, *level.escalate_to]
    if not any(is_on_call(e) for e in entries):
        return []
    return [T("Note: whoever is on call is matched to a Slack account by its confirmed email; someone on call whose "
              "email is no Slack account's is not an approver, nor a requester, here.")]


def explain(policies: PolicyFile, requester: Requester, node: Node, duration: timedelta | None = None, *,
            has_ticket: bool = False, directory: Directory | None = None, live: int | None = None) -> Explanation:
    """What would happen; ``live`` is how many requests the requester has pending or active, when known."""
    verdict = evaluate(policies, requester, node, duration, has_ticket=has_ticket)
    lines = [_header(requester, node, duration, has_ticket, directory)]
    if verdict.matched:
        lines.append(T("Policies that match:"))
        lines += [T("  • {policy}: {effect}  ← this one decides", policy=describe(m.policy), effect=m.effect)
                  if m.decided else T("  • {policy}: {effect}", policy=describe(m.policy), effect=m.effect)
                  for m in verdict.matched]
    else:
        lines.append(T("No policy matches."))
    matched = {id(m.policy) for m in verdict.matched}
    toml: list[AnyPolicy] = [*policies.deny, *policies.auto_approval]
    others = [p for p in toml if id(p) not in matched and matches(p.targets, node)
              and not requester.is_in(p.requesters)]
    if others:
        lines.append(T("Policies that cover this node, but not you:"))
        lines += [T("  • {policy}: only for {who}", policy=describe(p), who=who(p.requesters or (), directory))
                  for p in others]
    # a Cedar statement that failed: the evaluator's own words, for whoever maintains the policy file
    lines += [T("Note: {problem}", problem=line) for line in verdict.trace if "could not be evaluated" in line]
    lines += _decision(verdict, requester, node, directory)
    lines += _on_call_note([*(m.policy for m in verdict.matched), *others])
    if verdict.granting is not None and verdict.outcome in ("auto", "manual"):
        lines += _limits(policies, verdict.granting, live)
    lines.append(_identity(policies, requester, directory))
    lines += _breakglass(policies, requester, node, verdict)
    return Explanation(verdict, tuple(lines))
