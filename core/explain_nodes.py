"""``/jit explain`` for several nodes, and ``explain_for``, the use case behind the command.

The nodes are named as ``/jit request`` names them (``core.selection``): one node, a list (``web-1,web-2``) or a tag
selector (``tag:Role=web``). One node is explained by ``core.explain`` as it always was. Several go through one
deciding policy in a request (``core.checks.policy_for_all``): when every node falls under the same one, that
policy is explained once, saying which nodes; when they do not, the answer says that a request for them all would
be refused and gives each node's outcome in a line (``/jit explain <node>`` says the whole of one).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from core import selection
from core.context import Context
from core.durations import DurationError, parse_duration
from core.errors import InvalidInput
from core.explain import Explanation, _decision, _identity, _limits, _name, _on_call_note, describe, explain
from core.i18n import TP, T, Text
from core.model import LIVE_STATES, Node
from core.policy.evaluate import Requester, Verdict, evaluate
from core.policy.file import PolicyFile
from core.policy.schema import AutoApprovalPolicy, ManualApprovalPolicy
from core.ports import Directory
from core.words import said


def _header(requester: Requester, nodes: Sequence[Node], duration: timedelta | None,
            directory: Directory | None) -> list[Text]:
    name = _name(directory, requester.user_id)
    person = requester.user_id if name == requester.user_id else f"{name} ({requester.user_id})"
    first = nodes[0]
    values = {"person": person, "count": len(nodes), "account": first.account, "region": first.region}
    if duration:
        head = T("If {person} asks for these {count} nodes in one request (account {account}, {region}) for "
                 "{duration}:", duration=duration, **values)
    else:
        head = T("If {person} asks for these {count} nodes in one request (account {account}, {region}) for the "
                 "policy's default duration:", **values)
    return [head, *(T("  • {node}: {tags}", node=node.label, tags=", ".join(
        f"{k}={v}" for k, v in sorted(node.tags.items())) or T("no tags")) for node in nodes)]


def _granting(verdict: Verdict) -> AutoApprovalPolicy | ManualApprovalPolicy | None:
    return verdict.granting if verdict.outcome in ("auto", "manual") else None


def _shared(policies: PolicyFile, requester: Requester, nodes: Sequence[Node], verdict: Verdict,
            directory: Directory | None, live: int | None) -> list[Text]:
    """Every node under one deciding policy: that policy, explained once."""
    policy = _granting(verdict)
    assert policy is not None
    lines = [T("All {count} fall under the same policy, '{policy}', which decides for them all:", count=len(nodes),
               policy=policy.name)]
    lines += _decision(verdict, requester, nodes[0], directory)
    lines += _on_call_note([policy])
    lines += _limits(policies, policy, live)
    if len(nodes) > policy.max_nodes:
        lines.append(T("A request for these {count} nodes would be refused: policy '{policy}' allows at most {most} "
                       "in one request (max_nodes).", count=len(nodes), policy=policy.name, most=policy.max_nodes))
    return lines


def _brief(node: Node, verdict: Verdict) -> Text:
    """One node's outcome, in a line."""
    policy = _granting(verdict)
    if isinstance(policy, AutoApprovalPolicy):
        return T("  • {node}: approved at once by {policy}, at most {maximum}.", node=node.label,
                 policy=describe(policy), maximum=policy.max_duration)
    if isinstance(policy, ManualApprovalPolicy):
        return TP("  • {node}: needs approval under {policy} ({count} level), at most {maximum}.",
                  "  • {node}: needs approval under {policy} ({count} levels), at most {maximum}.",
                  len(policy.levels), node=node.label, policy=describe(policy), maximum=policy.max_duration)
    return T("  • {node}: refused. {message}", node=node.label, message=verdict.message)


def _apart(decided: Sequence[tuple[Node, Verdict]]) -> list[Text]:
    """The nodes do not share a deciding policy: say so, then each node's outcome."""
    refused = [node for node, verdict in decided if _granting(verdict) is None]
    if refused:
        lines = [T("A request for them all would be refused: no policy lets you ask for {nodes}. Node by node:",
                   nodes=selection.listed(refused))]
    else:
        lines = [T("These nodes fall under different policies, and one request goes through one: a request for them "
                   "all would be refused. Ask for the nodes of each policy in a request of their own. Node by "
                   "node:")]
    return lines + [_brief(node, verdict) for node, verdict in decided]


def explain_nodes(policies: PolicyFile, requester: Requester, nodes: Sequence[Node],
                  duration: timedelta | None = None, *, directory: Directory | None = None,
                  live: int | None = None) -> Explanation:
    """What a request for ``nodes`` together would meet (one node: ``core.explain.explain``)."""
    if len(nodes) == 1:
        return explain(policies, requester, nodes[0], duration, directory=directory, live=live)
    decided = [(node, evaluate(policies, requester, node, duration)) for node in nodes]
    names = {(p.name if (p := _granting(verdict)) else None) for _, verdict in decided}
    lines = _header(requester, nodes, duration, directory)
    if len(names) == 1 and None not in names:
        lines += _shared(policies, requester, nodes, decided[0][1], directory, live)
    else:
        lines += _apart(decided)
    lines.append(_identity(policies, requester, directory))
    if policies.breakglass.requesters and requester.is_in(policies.breakglass.requesters):
        lines.append(T("Break-glass is for one node in an emergency: `/jit explain <node>` says whether it is open "
                       "to you there."))
    lines.append(T("Which policies match each node, and why: `/jit explain <node>`."))
    return Explanation(decided[0][1], tuple(lines))


def explain_for(ctx: Context, user_id: str, nodes_ref: str, duration: str | None = None) -> Explanation:
    """``/jit explain <nodes> [duration]``: the explanation for the person asking, on real nodes (a list or a tag
    selector is resolved as ``/jit request`` resolves it, with the same refusals)."""
    requested = None
    if duration:
        try:
            requested = parse_duration(duration)
        except DurationError as err:
            raise InvalidInput(said(err)) from None
    text = nodes_ref.strip()
    several = "," in text or selection.is_selector(text)
    nodes = selection.named(ctx.nodes, text) if several else (ctx.nodes.resolve(text),)
    with ctx.uow() as uow:
        live = len(uow.repo.by_requester(user_id, LIVE_STATES, limit=1000))
    return explain_nodes(ctx.policies(), ctx.requester(user_id), nodes, requested, directory=ctx.directory,
                         live=live)
