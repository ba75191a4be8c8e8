"""What a request must satisfy before it is recorded: every rule, written once.

``check`` runs them in one order and returns a ``Checked`` (the person, the node as AWS describes it now, the
deciding policy and its verdict, the duration parsed once, the cleaned reason and ticket, the approval
levels) or raises a ``JitError`` whose ``field`` names the part of the request form it belongs to
(``node``, ``duration``, ``reason``, ``ticket``; None for the person as a whole). The slash command, the
request form (its submission and the re-render when a node is picked), the node picker and extensions all
go through it, so a form never accepts what the submission then refuses. ``check`` records nothing:
``core.submit.submit`` is ``check`` then ``record``, and audits the refusals that must be (``LockedOut``,
``PolicyRefusal``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core import selection
from core.context import Context
from core.continuous import ContinuousCapExceeded, check_extension
from core.durations import DurationError, parse_duration
from core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from core.i18n import TP, T, Text
from core.lockout import refusal
from core.model import LIVE_STATES, AccessRequest, LevelSnapshot, Lockout, Node, State, UserInfo
from core.policy.evaluate import Requester, Verdict, evaluate
from core.policy.schema import AutoApprovalPolicy, ManualApprovalPolicy
from core.schedule import check_start, parse_start, shown_at
from core.selection import listed, named, node_ref
from core.words import said

__all__ = ["Checked", "GrantingPolicy", "LockedOut", "PolicyRefusal", "RequestInput", "Requestable", "check",
           "extendable", "node_ref", "person", "policy_for", "resolve", "verdict_on"]

GrantingPolicy = AutoApprovalPolicy | ManualApprovalPolicy

#: nodes named in a refusal's message
MAX_LISTED = 5
MAX_REASON = 1000
MAX_TICKET = 100


@dataclass(frozen=True)
class RequestInput:
    """A request as a person gives it; ``duration`` as typed (parsed once, by ``check``). An extension
    (``extends``) is for the node of the access it extends, whatever ``node`` says, and keeps that access's
    ticket unless another is given."""

    requester: str
    #: one node, a comma-separated list (``web-1,web-2``) or a tag selector (``tag:Role=web``): core.selection
    node: str
    reason: str
    duration: str | None = None
    ticket: str | None = None
    extends: str | None = None
    #: scheduled access: the start as typed (``22:00``, ``2026-12-07 09:30``; core.schedule)
    start: str | None = None


@dataclass(frozen=True)
class Person:
    """Someone who may ask for access at all: their Slack profile, and the principal receiving grants."""

    user: UserInfo
    principal: str


@dataclass(frozen=True)
class Requestable:
    """A node the requester may ask for, and the policy that would decide."""

    node: Node
    verdict: Verdict

    @property
    def policy(self) -> GrantingPolicy:
        assert self.verdict.granting is not None
        return self.verdict.granting


@dataclass(frozen=True)
class Checked:
    """A request that satisfies every rule, ready to be recorded (``core.submit.record``)."""

    person: Person
    node: Node
    verdict: Verdict
    policy: GrantingPolicy
    duration: timedelta
    reason: str
    ticket: str | None
    levels: tuple[LevelSnapshot, ...]
    #: the active request an extension extends
    extends: AccessRequest | None = None
    #: scheduled access: granted at this moment (core.schedule)
    starts_at: datetime | None = None
    #: the nodes after ``node``, for a request of several (``AccessRequest.more_nodes``)
    more_nodes: tuple[Node, ...] = ()

    @property
    def nodes(self) -> tuple[Node, ...]:
        return (self.node, *self.more_nodes)


class LockedOut(NotAllowed):
    """The person is locked out (``core.lockout``); ``submit`` audits the refusal."""

    def __init__(self, held: Lockout, what: str) -> None:
        super().__init__(refusal(held, what))
        self.held = held
        self.what = what


class PolicyRefusal(NotAllowed):
    """No policy lets the person ask for this node (a deny, or none covers it); ``submit`` records and
    announces the refusal."""

    field = "node"

    def __init__(self, node: Node, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.node = node
        self.verdict = verdict


def deciding(verdict: Verdict) -> GrantingPolicy | None:
    """The policy that lets the request through (auto-approval or manual approval), or None."""
    return verdict.granting if verdict.outcome in ("auto", "manual") else None


def verdict_on(ctx: Context, requester: Requester, node: Node, duration: timedelta | None = None,
               ticket: str | None = None) -> Verdict:
    """How the policies in force decide a request for ``node`` (with a ticket, for Cedar's ``hasTicket``)."""
    return evaluate(ctx.policies(), requester, node, duration, has_ticket=bool(ticket))


# -- the rules, in the order ``check`` applies them ------------------------------------------------------
def clean(text: str | None, field: str, limit: int) -> str | None:
    """Whitespace collapsed; ``InvalidInput`` on ``field`` when longer than ``limit``."""
    value = " ".join((text or "").split())
    if len(value) > limit:
        raise InvalidInput(_too_long(field, len(value), limit)).at(field)
    return value or None


def _too_long(field: str, length: int, limit: int) -> Text:
    if field == "ticket":
        return T("The ticket is {length} characters long; keep it under {limit}.", length=str(length), limit=str(limit))
    return T("The reason is {length} characters long; keep it under {limit}.", length=str(length), limit=str(limit))


def person(ctx: Context, user_id: str, what: str = "request") -> Person:
    """Who may ask for anything: an active human Slack account, not locked out (``core.lockout``), with a
    principal to receive grants (``Context.principal_of``: ``[identities]`` or Identity Center)."""
    user = ctx.directory.user(user_id)
    if user.deleted or user.is_bot:
        raise NotAllowed(T("Your Slack account cannot request access."))
    with ctx.uow() as uow:
        held = uow.repo.lockout(user.id)
    if held is not None:
        raise LockedOut(held, what)
    return Person(user, ctx.principal_of(user))


def parse(text: str | None) -> timedelta | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_duration(text)
    except DurationError as err:
        raise InvalidInput(said(err)).at("duration") from None


def extended(ctx: Context, user_id: str, request_id: str) -> tuple[AccessRequest, list[AccessRequest]]:
    """The request an extension would extend, if it is ``user_id``'s, and their requests waiting for approval or
    for their grant (among which its other extensions)."""
    with ctx.uow() as uow:
        old = uow.repo.get(request_id)
        waiting = uow.repo.by_requester(user_id, [State.PENDING, State.APPROVED]) if old else []
    if old is None:
        raise NotFound(T("There is no request {id}.", id=request_id)).at("node")
    if old.requester != user_id:
        raise NotAllowed(T("Only the requester of {id} can extend it.", id=request_id)).at("node")
    return old, waiting


def still_active(old: AccessRequest, waiting: list[AccessRequest]) -> None:
    """Only active access is extended, by one extension at a time."""
    if old.state is not State.ACTIVE:
        raise Conflict(T("Request {id} is {state}; only active access can be extended. Ask for new access instead.",
                         id=old.id, state=old.state.words)).at("node")
    for other in waiting:
        if other.extends == old.id:
            raise Conflict(T("Extension {id} of {extended} is already {state}.", id=other.id, extended=old.id,
                             state=other.state.words)).at("node")


def resolve(ctx: Context, reference: str) -> Node:
    """One node (the form's picker); a request's nodes are ``core.selection.named``."""
    return selection.resolve(ctx.nodes, reference)


def policy_for(ctx: Context, user_id: str, node: Node, duration: timedelta | None, ticket: str | None,
               old: AccessRequest | None = None) -> tuple[Verdict, GrantingPolicy]:
    """The deciding policy, or ``PolicyRefusal``. An extension goes through the policy of the access it
    extends: if another would decide it now (the file changed, or the duration is beyond an auto-approval's
    maximum), it is refused."""
    verdict = verdict_on(ctx, ctx.requester(user_id), node, duration, ticket)
    policy = deciding(verdict)
    if old is not None and (policy is None or policy.name != old.policy):
        now = T("policy '{name}'", name=policy.name) if policy else T("no policy")
        raise NotAllowed(T("An extension goes through the policy of the access it extends ('{policy}'), but {now} "
                           "would decide it now. {message}", policy=old.policy, now=now,
                           message=verdict.message)).at("node")
    if policy is None:
        raise PolicyRefusal(node, verdict)
    return verdict, policy


def within_policy(requested: timedelta | None, policy: GrantingPolicy) -> timedelta:
    """The duration asked for (at most the policy's ``max_duration``), or the policy's default."""
    if requested is None:
        return policy.duration_default
    if requested > policy.max_duration:
        raise InvalidInput(T("{duration} is more than policy '{policy}' allows (at most {maximum}).",
                             duration=requested, policy=policy.name, maximum=policy.max_duration)).at("duration")
    return requested


def _key(node: Node) -> tuple[str, str, str]:
    return (node.id, node.account, node.region)


def policy_for_all(ctx: Context, user_id: str, nodes: Sequence[Node], duration: timedelta | None,
                   ticket: str | None, old: AccessRequest | None = None) -> tuple[Verdict, GrantingPolicy]:
    """``policy_for`` each node (a refusal of any refuses the request, naming that node): one deciding policy
    for them all, which allows that many nodes (``max_nodes``). The first node's verdict is the request's."""
    decided = [(node, *policy_for(ctx, user_id, node, duration, ticket, old)) for node in nodes]
    _, verdict, policy = decided[0]
    if any(other.name != policy.name for _, _, other in decided):
        which = "; ".join(f"{node.label}: '{other.name}'" for node, _, other in decided)
        raise NotAllowed(T("These nodes fall under different policies, and one request goes through one: {which}. "
                           "Ask for the nodes of each policy in a request of their own.", which=which)).at("node")
    if len(nodes) > policy.max_nodes:
        shown = listed(nodes[:MAX_LISTED]) + (", …" if len(nodes) > MAX_LISTED else "")
        raise NotAllowed(T("You asked for {count} nodes ({nodes}); policy '{policy}' allows at most {most} in one "
                           "request (max_nodes).", count=len(nodes), nodes=shown, policy=policy.name,
                           most=policy.max_nodes)).at("node")
    return verdict, policy


def same_node(ctx: Context, user_id: str, nodes: Sequence[Node], extends: str | None = None) -> None:
    """One live request per person and node: a second one would be a second grant of the same access (and
    with auto-approval, a way around ``max_continuous``). The request an extension replaces does not count; a
    request for several nodes counts for each of them."""
    wanted = {_key(node): node for node in nodes}
    with ctx.uow() as uow:
        live = [r for r in uow.repo.by_requester(user_id, LIVE_STATES, limit=1000)
                if r.id != extends and any(_key(n) in wanted for n in r.nodes)]
    if not live:
        return
    other = max(live, key=lambda r: LIVE_STATES.index(r.state))  # active access says most, then approved
    node = next(wanted[_key(n)] for n in other.nodes if _key(n) in wanted)
    name = node.name or node.id
    if other.state is State.ACTIVE:
        if other.expires_at is None:
            raise Conflict(T("You already have access to {node} ({id}). To stay longer, extend it: "
                             "`/jit extend {id} <duration> <reason>`.", node=name, id=other.id)).at("node")
        remaining = timedelta(minutes=max(1, round((other.expires_at - ctx.clock.now()).total_seconds() / 60)))
        raise Conflict(T("You already have access to {node} ({id}), for another {left}. To stay longer, extend it: "
                         "`/jit extend {id} <duration> <reason>`.", node=name, id=other.id,
                         left=remaining)).at("node")
    if other.state is State.APPROVED and other.starts_at is not None and other.scheduled(ctx.clock.now()):
        zone = ctx.policies().settings.zone
        raise Conflict(T("Your request {id} for {node} is scheduled to start at {start}. To change it, cancel it "
                         "first: `/jit cancel {id}`.", id=other.id, node=name,
                         start=shown_at(other.starts_at, zone))).at("node")
    if other.state is State.APPROVED:
        raise Conflict(T("Your request {id} for {node} is approved and access is being granted.", id=other.id,
                         node=name)).at("node")
    raise Conflict(T("Your request {id} for {node} is already waiting for approval. To ask differently, cancel it "
                     "first: `/jit cancel {id}`.", id=other.id, node=name)).at("node")


def ticket_matches(policy: GrantingPolicy, ticket: str | None) -> None:
    """``ticket_pattern``: the ticket must be given and match the whole pattern, which the message shows."""
    if not policy.ticket_pattern:
        return
    if not ticket:
        raise InvalidInput(T("Policy '{policy}' needs a ticket matching `{pattern}`: add ticket=<id> to your "
                             "request.", policy=policy.name, pattern=policy.ticket_pattern)).at("ticket")
    if not re.fullmatch(policy.ticket_pattern, ticket):
        raise InvalidInput(T("Ticket '{ticket}' does not match `{pattern}` (required by policy '{policy}').",
                             ticket=ticket, pattern=policy.ticket_pattern, policy=policy.name)).at("ticket")


def active_limit(ctx: Context, user_id: str, policy: GrantingPolicy, extends: str | None = None) -> None:
    """``max_active_grants`` ([settings] for all policies together, and per policy): count the user's
    pending, approved and active requests; the one an extension replaces does not count."""
    overall = ctx.policies().settings.max_active_grants
    if overall is None and policy.max_active_grants is None:
        return
    with ctx.uow() as uow:
        live = [r for r in uow.repo.by_requester(user_id, LIVE_STATES, limit=1000) if r.id != extends]
    if overall is not None and len(live) >= overall:
        raise NotAllowed(TP("You already have {count} request pending or active, and at most {limit} are "
                            "allowed at a time ([settings] max_active_grants). Release or cancel one first: {ids}.",
                            "You already have {count} requests pending or active, and at most {limit} are "
                            "allowed at a time ([settings] max_active_grants). Release or cancel one first: {ids}.",
                            len(live), limit=overall, ids=", ".join(r.id for r in live[:10])))
    under = [r for r in live if r.policy == policy.name]
    if policy.max_active_grants is not None and len(under) >= policy.max_active_grants:
        raise NotAllowed(TP("You already have {count} request pending or active under policy '{policy}', which "
                            "allows {limit} at a time (max_active_grants). Release or cancel one first: {ids}.",
                            "You already have {count} requests pending or active under policy '{policy}', which "
                            "allows {limit} at a time (max_active_grants). Release or cancel one first: {ids}.",
                            len(under), policy=policy.name, limit=policy.max_active_grants,
                            ids=", ".join(r.id for r in under[:10])))


def levels_of(ctx: Context, policy: GrantingPolicy, requester: str) -> tuple[LevelSnapshot, ...]:
    """The approval levels to record (none for auto-approval), each one that can be satisfied."""
    if not isinstance(policy, ManualApprovalPolicy):
        return ()
    levels = []
    for index, level in enumerate(policy.levels):
        name = level.name or f"Level {index + 1}"  # as recorded
        eligible = ctx.eligible_count(level.approvers + level.escalate_to, requester)  # once escalated, too
        if eligible < level.required:
            raise NotAllowed(TP(
                "This request could never be approved: level {number} ('{level}') of policy '{policy}' needs "
                "{count} approver other than you, and only {eligible} can approve. Ask an admin to fix the policy.",
                "This request could never be approved: level {number} ('{level}') of policy '{policy}' needs "
                "{count} approvers other than you, and only {eligible} can approve. Ask an admin to fix the policy.",
                level.required, number=index + 1, level=level.name or T("Level {number}", number=index + 1),
                policy=policy.name, eligible=eligible)).at("node")
        levels.append(LevelSnapshot(name, level.channel, level.approvers, level.required, level.escalate_after,
                                    level.escalate_to, level.escalate_channel))
    return tuple(levels)


def extendable(ctx: Context, user_id: str, request_id: str, duration: timedelta | None = None) -> AccessRequest:
    """The active request ``user_id`` may extend (the Extend button, before the form): the rules of ``check``
    that need no form. Without ``duration``, the cap on continuous access refuses only when nothing is left
    (``ContinuousCapExceeded``)."""
    old, waiting = extended(ctx, user_id, request_id)
    person(ctx, user_id, "extension")
    still_active(old, waiting)
    _, policy = policy_for_all(ctx, user_id, old.nodes, duration, old.ticket, old)
    check_extension(ctx, policy, old, duration)
    return old


def check(ctx: Context, data: RequestInput) -> Checked:
    """Every rule a request must satisfy, in one order (an extension of someone else's request is refused as
    such before anything is said about the person); records nothing."""
    reason = clean(data.reason, "reason", MAX_REASON)
    if not reason:
        raise InvalidInput(T("Please say why you need access.")).at("reason")
    ticket = clean(data.ticket, "ticket", MAX_TICKET)
    requested = parse(data.duration)
    old, waiting = extended(ctx, data.requester, data.extends) if data.extends else (None, [])
    zone = ctx.policies().settings.zone
    start = parse_start(data.start, ctx.clock.now(), zone) if data.start and data.start.strip() else None
    if start is not None and data.extends:
        raise InvalidInput(T("An extension continues the access it extends; it cannot be scheduled.")).at("start")
    who = person(ctx, data.requester, "extension" if data.extends else "request")
    if old is not None:
        still_active(old, waiting)
    if old is not None and ticket is None:
        ticket = old.ticket
    # an extension is for the nodes of the access it extends, as AWS describes them now
    nodes = named(ctx.nodes, ",".join(node_ref(n) for n in old.nodes) if old is not None else data.node)
    verdict, policy = policy_for_all(ctx, who.user.id, nodes, requested, ticket, old)
    duration = within_policy(requested, policy)
    starts_at = check_start(policy, start, ctx.clock.now(), zone) if start is not None else None
    if old is not None:  # max_continuous: refused before anything is recorded
        try:
            check_extension(ctx, policy, old, duration)
        except ContinuousCapExceeded as err:
            raise err.at("duration") from None
    same_node(ctx, who.user.id, nodes, data.extends)
    ticket_matches(policy, ticket)
    active_limit(ctx, who.user.id, policy, data.extends)
    levels = levels_of(ctx, policy, who.user.id)
    return Checked(who, nodes[0], verdict, policy, duration, reason, ticket, levels, old, starts_at, nodes[1:])
